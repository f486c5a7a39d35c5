package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/cardbrand"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
	"github.com/cardvault/cardvault/webhook"
)

// WebhookJob is the outbox kind of a capture's webhook.
const WebhookJob = "capture.webhook"

// SafeData is what a webhook may tell about a captured item: nothing that
// would let anyone charge the card.
type SafeData struct {
	CardHolder string `json:"card_holder,omitempty"`
	LastFour   string `json:"last_four,omitempty"`
	CardType   string `json:"card_type,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
}

// numberSeparators are what a typed number may hold between its digits.
var numberSeparators = strings.NewReplacer(" ", "", "-", "")

// safeDataOf picks the safe fields of an item: the last four digits are
// the ones a masked number shows (package mask), nothing more.
func safeDataOf(doc []byte) SafeData {
	var sd SafeData
	for _, f := range []string{"card_holder", "account_holder", "cardholder_name", "name"} {
		if r := gjson.GetBytes(doc, f); r.Type == gjson.String {
			sd.CardHolder = r.Str
			break
		}
	}
	for _, f := range []string{"card_expiry", "expiry"} {
		if r := gjson.GetBytes(doc, f); r.Type == gjson.String {
			sd.Expiry = r.Str
			break
		}
	}
	for _, f := range vault.NumberFields {
		r := gjson.GetBytes(doc, f)
		if !r.Exists() {
			continue
		}
		n := r.Str
		if r.Type == gjson.Number {
			n = r.Raw
		}
		n = numberSeparators.Replace(n)
		if f == "account_number" {
			sd.LastFour = mask.AccountLast4(n)
		} else {
			sd.LastFour = mask.CardLast4(n)
			sd.CardType = cardbrand.Detect(n).Name
		}
		break
	}
	return sd
}

// webhookPayload is what a webhook job carries, sealed by the outbox: the
// request to make, complete, so that every try sends the same body.
type webhookPayload struct {
	URL    string          `json:"url"`
	Secret string          `json:"secret"`
	Body   json.RawMessage `json:"body"`
}

// enqueueWebhook queues, inside tx (the transaction of the capture), the
// notification of a capture by grant id of owner's item for user.
func (s *Service) enqueueWebhook(tx store.Tx, owner, id, user string, item vault.ItemRef, doc []byte, url, secret string) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"capture_id": id, "user": user, "reference": item.Reference, "captured_at": s.now().UTC().Format(time.RFC3339),
		},
		"token_info": map[string]any{"token": item.Token, "safe_data": safeDataOf(doc)},
	})
	if err != nil {
		return err
	}
	payload, err := json.Marshal(webhookPayload{URL: url, Secret: secret, Body: body})
	if err != nil {
		return err
	}
	defer clear(payload)
	_, err = s.cfg.Outbox.Enqueue(tx, outbox.Job{Kind: WebhookJob, Tenant: owner, Payload: payload})
	return err
}

// deliverWebhook is the outbox handler of WebhookJob: one signed POST
// through the egress guard.
func (s *Service) deliverWebhook(ctx context.Context, d outbox.Delivery) error {
	var p webhookPayload
	if err := json.Unmarshal(d.Payload, &p); err != nil {
		return outbox.Permanent(fmt.Errorf("capture: a webhook job is corrupt"))
	}
	return webhook.Deliver(ctx, s.cfg.Egress, p.URL, p.Secret, d.ID, p.Body, s.now())
}

// checkWebhook checks a grant's webhook against the egress guard when the
// grant is created: a URL the guard would refuse for what it says (not
// https, an address of a refused class) is refused now, not at delivery.
// Names are checked again at every dial.
func (s *Service) checkWebhook(w *Webhook) error {
	if s.cfg.Outbox == nil || s.cfg.Egress == nil {
		return fmt.Errorf("%w: webhooks are not configured on this server", ErrInvalid)
	}
	if err := s.cfg.Egress.CheckURL(w.URL); err != nil {
		var why string
		if errors.Is(err, egress.ErrRefused) || errors.Is(err, egress.ErrInvalidURL) {
			// The guard's message names the host and the reason, never
			// the path or query.
			why = ": " + strings.TrimPrefix(err.Error(), "egress: ")
		}
		return fmt.Errorf("%w: webhook url is not allowed%s", ErrInvalid, why)
	}
	if w.Secret == "" || len(w.Secret) > 256 {
		return fmt.Errorf("%w: webhook secret must be 1-256 bytes", ErrInvalid)
	}
	return nil
}
