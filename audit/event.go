package audit

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault/luhn"
)

// Op names what happened. The set is closed: Record and Note refuse an
// operation that is not one of the constants below.
type Op string

// The operations. Names are "<resource>.<verb>".
const (
	// Vault keys (user + passphrase).
	OpKeyCreated           Op = "key.created"
	OpKeyDeleted           Op = "key.deleted"
	OpKeyPassphraseChanged Op = "key.passphrase_changed"
	OpKeyUnlockFailed      Op = "key.unlock_failed"

	// Vault items.
	OpItemStored  Op = "item.stored"
	OpItemRead    Op = "item.read"
	OpItemUpdated Op = "item.updated"
	OpItemDeleted Op = "item.deleted"

	// Capture endpoints (grants) and hosted forms.
	OpCaptureCreated  Op = "capture.created"
	OpCaptureRedeemed Op = "capture.redeemed"
	OpCaptureRefused  Op = "capture.refused"
	OpCaptureLocked   Op = "capture.locked"
	OpCaptureDeleted  Op = "capture.deleted"
	OpFormConfigured  Op = "form.configured"
	OpFormDeleted     Op = "form.deleted"

	// Secure tokens and single-use tokens.
	OpSecureTokenCreated           Op = "securetoken.created"
	OpSecureTokenRead              Op = "securetoken.read"
	OpSecureTokenListed            Op = "securetoken.listed"
	OpSecureTokenPatched           Op = "securetoken.patched"
	OpSecureTokenUpdatedFromSingle Op = "securetoken.updated_from_single_use"
	OpSecureTokenDeleted           Op = "securetoken.deleted"
	OpSingleUseCreated             Op = "singleuse.created"
	OpSingleUseUsed                Op = "singleuse.used"

	// The proxy and its rules.
	OpProxySent     Op = "proxy.sent"
	OpProxyReceived Op = "proxy.received"
	OpRulesCreated  Op = "rules.created"
	OpRulesDeleted  Op = "rules.deleted"

	// Credentials and keys of the deployment.
	OpBearerIssued      Op = "bearer.issued"
	OpAuthFailed        Op = "auth.failed"
	OpMasterKeyRotated  Op = "masterkey.rotated"
	OpAuditListed       Op = "audit.listed"
	OpAuditExported     Op = "audit.exported"
	OpAuditNotesDropped Op = "audit.notes_dropped"
)

// Ops is every operation, in the order of the constants.
var Ops = []Op{
	OpKeyCreated, OpKeyDeleted, OpKeyPassphraseChanged, OpKeyUnlockFailed,
	OpItemStored, OpItemRead, OpItemUpdated, OpItemDeleted,
	OpCaptureCreated, OpCaptureRedeemed, OpCaptureRefused, OpCaptureLocked, OpCaptureDeleted, OpFormConfigured, OpFormDeleted,
	OpSecureTokenCreated, OpSecureTokenRead, OpSecureTokenListed, OpSecureTokenPatched, OpSecureTokenUpdatedFromSingle, OpSecureTokenDeleted,
	OpSingleUseCreated, OpSingleUseUsed,
	OpProxySent, OpProxyReceived, OpRulesCreated, OpRulesDeleted,
	OpBearerIssued, OpAuthFailed, OpMasterKeyRotated, OpAuditListed, OpAuditExported, OpAuditNotesDropped,
}

var knownOps = func() map[Op]bool {
	m := make(map[Op]bool, len(Ops))
	for _, op := range Ops {
		m[op] = true
	}
	return m
}()

// Outcome is how an operation ended.
type Outcome string

// The outcomes.
const (
	// OutcomeOK: the operation did what was asked.
	OutcomeOK Outcome = "ok"
	// OutcomeRefused: the caller was refused — wrong credentials, not
	// allowed, invalid input, not found, locked. Nothing changed.
	OutcomeRefused Outcome = "refused"
	// OutcomeFailed: the service failed (the storage, a deadline).
	OutcomeFailed Outcome = "failed"
)

// Limits of an event's fields. A longer value is redacted (see
// [Event]), not refused.
const (
	MaxFieldLen = 256
	// MaxAccountLen bounds Account, which the account index's keys hold.
	MaxAccountLen = 255
)

// Event is one thing that happened: who did what to which resource, when,
// and how it ended. Its fields hold identifiers only — account names, key
// ids, tokens, references, endpoint ids, addresses — never a card number,
// a CVV, a passphrase, a secret or a cardholder's name.
//
// As a second line of defence, Record and Note redact any field that looks
// like it holds a card number (a Luhn-valid run of 12 to 19 digits, or a
// longer run: see [luhn.CardNumberRuns]), is longer than [MaxFieldLen]
// bytes, or is not printable UTF-8: the value is replaced by
// "redacted:" and a keyed hash of it (16 letters a-p under the trail's key,
// so that the same value always gives the same mark and nobody without the
// key can test a guess), and the field's JSON name is listed in Redacted.
// A vault token made with the "luhn" algorithm is Luhn-valid by design, so
// it is always redacted that way: name such an item by its reference.
type Event struct {
	// Op is what happened: one of the Op constants.
	Op Op `json:"op"`
	// Outcome is how it ended: one of the Outcome constants.
	Outcome Outcome `json:"outcome"`
	// Time is when; zero means now, by the Log's clock.
	Time time.Time `json:"time"`

	// Who.
	Account  string `json:"account,omitempty"`          // the HTTP Basic account (vault/capture API)
	APIKeyID string `json:"api_key_id,omitempty"`       // the API key's id (a keyed hash), never the key
	Terminal string `json:"terminal,omitempty"`         // the processing terminal
	Endpoint string `json:"capture_endpoint,omitempty"` // the capture endpoint's id
	Client   string `json:"client,omitempty"`           // the client's IP address ("ip:port" is cut to the IP)

	// What.
	User      string `json:"user,omitempty"`      // the vault key's user
	Token     string `json:"token,omitempty"`     // the vault item's token
	Reference string `json:"reference,omitempty"` // the vault item's reference
	// Resource is the id of the other thing the operation names: a
	// secure token's secureTokenId, a form's id, a rule set's id, an
	// outbox job's id.
	Resource string `json:"resource,omitempty"`
	// Reason is a short code for a refusal or failure ("wrong_secret",
	// "expired", "basic"), never a message that could quote input.
	Reason string `json:"reason,omitempty"`
	// Count is how many things the operation touched, where that says
	// something (items listed, keys re-wrapped, notes dropped).
	Count int `json:"count,omitempty"`

	// Redacted lists the JSON names of the fields the Log redacted; set
	// by the Log, ignored on input.
	Redacted []string `json:"redacted,omitempty"`
}

// field is one redactable string field of an Event.
type field struct {
	name string
	p    *string
}

func (e *Event) fields() []field {
	return []field{
		{"account", &e.Account}, {"api_key_id", &e.APIKeyID}, {"terminal", &e.Terminal},
		{"capture_endpoint", &e.Endpoint}, {"client", &e.Client}, {"user", &e.User}, {"token", &e.Token},
		{"reference", &e.Reference}, {"resource", &e.Resource}, {"reason", &e.Reason},
	}
}

// clean checks e's operation and outcome and redacts its fields as the
// Event documentation says, with mark making the redaction marks. It
// returns the event to keep.
func clean(e Event, now time.Time, mark func(string) string) (Event, error) {
	if !knownOps[e.Op] {
		return Event{}, fmt.Errorf("%w: unknown operation", ErrInvalid)
	}
	switch e.Outcome {
	case OutcomeOK, OutcomeRefused, OutcomeFailed:
	default:
		return Event{}, fmt.Errorf("%w: the outcome must be ok, refused or failed", ErrInvalid)
	}
	if e.Count < 0 {
		return Event{}, fmt.Errorf("%w: a negative count", ErrInvalid)
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	e.Redacted = nil
	ip, isIP := clientIP(e.Client)
	e.Client = ip
	for _, f := range e.fields() {
		if *f.p != "" && (!acceptable(*f.p, f.name) || f.p == &e.Client && !isIP) {
			*f.p = mark(*f.p)
			e.Redacted = append(e.Redacted, f.name)
		}
	}
	return e, nil
}

// acceptable reports whether v may be kept as it is in the field name.
func acceptable(v, name string) bool {
	max := MaxFieldLen
	if name == "account" {
		max = MaxAccountLen
	}
	if len(v) > max || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false // control characters; NUL would break the index key
		}
	}
	if name == "token" && fullToken(v) {
		return true
	}
	return !luhn.HasCardNumber(v)
}

// fullToken reports whether v has the form of a vault item's full token:
// 64 lowercase hex digits, a keyed hash. One in about 120 holds a run of
// digits that passes the Luhn check by chance, which is not a card number
// (no card number is 64 characters long), and redacting it would hide
// which item an entry is about.
func fullToken(v string) bool {
	if len(v) != 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// clientIP cuts the port off an address — http.Request.RemoteAddr holds
// "ip:port" — and reports whether what is left is an IP address (or
// empty). Anything else is redacted.
func clientIP(s string) (string, bool) {
	if s == "" {
		return s, true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.String(), true
		}
	}
	return s, false
}

// Actor is who acts, as the layer that authenticated the request knows
// it: the server knows the account, the API key, the terminal, the capture
// endpoint and the client's address; the services below it do not, and
// read them from the context with ActorFrom.
type Actor struct {
	Account, APIKeyID, Terminal, Endpoint, Client string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the Actor of ctx; the zero Actor when there is none.
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// By returns e with its empty who-fields filled from a: what the event
// says itself wins.
func (e Event) By(a Actor) Event {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&e.Account, a.Account}, {&e.APIKeyID, a.APIKeyID}, {&e.Terminal, a.Terminal}, {&e.Endpoint, a.Endpoint}, {&e.Client, a.Client},
	} {
		if *f.dst == "" {
			*f.dst = f.src
		}
	}
	return e
}
