package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/cardbrand"
	"github.com/cardvault/cardvault/vault"
)

// webhookCall is one notification to deliver.
type webhookCall struct {
	url, secret string
	grant, user string
	item        vault.ItemRef
	safe        SafeData
	at          time.Time
}

// SafeData is what a webhook may tell about a captured item: nothing that
// would let anyone charge the card.
type SafeData struct {
	CardHolder string `json:"card_holder,omitempty"`
	LastFour   string `json:"last_four,omitempty"`
	CardType   string `json:"card_type,omitempty"`
	Expiry     string `json:"expiry,omitempty"`
}

// safeDataOf picks the safe fields of an item.
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
		n = strings.NewReplacer(" ", "", "-", "").Replace(n)
		if len(n) >= 8 {
			sd.LastFour = n[len(n)-4:]
		}
		if f != "account_number" {
			sd.CardType = cardbrand.Detect(n).Name
		}
		break
	}
	return sd
}

// webhookQueue delivers notifications in the background, so that a slow
// or dead receiver never delays a capture's reply. Deliveries are retried
// with exponential backoff; the queue is bounded and lives in memory, so a
// process that stops loses what it had not delivered (which the log says).
type webhookQueue struct {
	s     *Service
	calls chan webhookCall
}

const (
	webhookQueueLen  = 1024
	webhookWorkers   = 4
	webhookAttempts  = 5
	webhookFirstWait = 500 * time.Millisecond
)

func newWebhookQueue(s *Service) *webhookQueue {
	q := &webhookQueue{s: s, calls: make(chan webhookCall, webhookQueueLen)}
	for range webhookWorkers {
		s.wg.Add(1)
		go q.work()
	}
	return q
}

func (q *webhookQueue) enqueue(c webhookCall) {
	select {
	case q.calls <- c:
	default:
		q.s.log.Warn("capture: webhook queue full; notification dropped", "grant", c.grant, "host", hostOf(c.url))
	}
}

func (q *webhookQueue) work() {
	defer q.s.wg.Done()
	for {
		select {
		case <-q.s.stop:
			for {
				select {
				case c := <-q.calls:
					q.s.log.Warn("capture: shutting down; webhook not delivered", "grant", c.grant, "host", hostOf(c.url))
				default:
					return
				}
			}
		case c := <-q.calls:
			q.deliver(c)
		}
	}
}

func (q *webhookQueue) deliver(c webhookCall) {
	body, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"capture_id": c.grant, "user": c.user, "reference": c.item.Reference, "captured_at": c.at.Format(time.RFC3339),
		},
		"token_info": map[string]any{"token": c.item.Token, "safe_data": c.safe},
	})
	wait := webhookFirstWait
	var lastErr error
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		ctx, cancel := context.WithTimeout(q.s.bg, 10*time.Second)
		lastErr = q.post(ctx, c, body)
		cancel()
		if lastErr == nil {
			return
		}
		select {
		case <-q.s.stop:
			q.s.log.Warn("capture: shutting down; webhook not delivered", "grant", c.grant, "host", hostOf(c.url), "err", lastErr)
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
	q.s.log.Warn("capture: webhook failed; giving up", "grant", c.grant, "host", hostOf(c.url), "attempts", webhookAttempts, "err", lastErr)
}

func (q *webhookQueue) post(ctx context.Context, c webhookCall, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-PCIVault-Webhook-Secret", c.secret)
	resp, err := q.s.cfg.HTTPClient.Do(req)
	if err != nil {
		// The client's error names the URL, which may hold a query
		// string; say only what failed.
		return fmt.Errorf("request failed")
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func hostOf(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		raw = raw[i+3:]
	}
	if i := strings.IndexAny(raw, "/?#"); i >= 0 {
		raw = raw[:i]
	}
	return raw
}
