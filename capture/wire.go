package capture

import (
	"bytes"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/vault"
)

// The wire model of grants: what the vault/capture API's POST and GET
// /v1/capture answer (a [GrantRequest]'s JSON body is its own), and the
// reply and body of the secure-token side's capture endpoints. A server
// decodes into these and encodes them as they are.

// MaxGrantRequest caps the JSON body of a grant request: a GrantRequest's
// options, or a processing terminal's {"ttl"}.
const MaxGrantRequest = 16 << 10

// ParseGrantRequest reads the optional JSON body of a vault grant's
// request, its options (see [GrantRequest]): strict JSON, no other
// member. Its errors name a member, never a value.
func ParseGrantRequest(body []byte) (GrantRequest, error) {
	var req GrantRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return req, nil
	}
	if err := jsonx.DecodeStrict(body, &req, jsonx.Limits{MaxBytes: MaxGrantRequest, MaxDepth: 8}); err != nil {
		return GrantRequest{}, err
	}
	return req, nil
}

// LockdownInfo is the item a locked grant writes to, as the vault/capture
// API names it.
type LockdownInfo struct {
	Token     string `json:"token"`
	Reference string `json:"reference"`
}

// lockdownOf is the lockdown_info of a grant locked to ref, nil for an
// open one.
func lockdownOf(ref *vault.ItemRef) *LockdownInfo {
	if ref == nil {
		return nil
	}
	return &LockdownInfo{Token: ref.Token, Reference: ref.Reference}
}

// GrantReply is a new grant on the wire: its id, the path to post to, its
// secret (shown this once), when it expires (to the second; absent for
// never) and, for a locked grant, its item.
type GrantReply struct {
	ID           string        `json:"id"`
	URL          string        `json:"url"`
	Secret       string        `json:"secret"`
	ExpiresAt    *time.Time    `json:"expires_at,omitempty"`
	LockdownInfo *LockdownInfo `json:"lockdown_info,omitempty"`
}

// Reply is g on the wire, its URL under capturePath (a server's
// DefaultCapturePath, behind its prefix).
func (g Grant) Reply(capturePath string) GrantReply {
	return GrantReply{ID: g.ID, URL: capturePath + g.ID, Secret: g.Secret,
		ExpiresAt: utcOrNil(g.ExpiresAt.Truncate(time.Second)), LockdownInfo: lockdownOf(g.Lock)}
}

// utcOrNil is t in UTC, nil for the zero time (never).
func utcOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// InfoReply is a live grant in a list, never with its secret.
type InfoReply struct {
	ID            string        `json:"id"`
	URL           string        `json:"url"`
	User          string        `json:"user"`
	CreatedAt     time.Time     `json:"created_at"`
	ExpiresAt     *time.Time    `json:"expires_at,omitempty"`
	LockdownInfo  *LockdownInfo `json:"lockdown_info,omitempty"`
	AllowedFields []string      `json:"allowed_fields,omitempty"`
	SingleUse     bool          `json:"single_use,omitempty"`
	Used          bool          `json:"used,omitempty"`
	WebhookURL    string        `json:"webhook_url,omitempty"`
}

// Reply is i on the wire, its URL under capturePath.
func (i Info) Reply(capturePath string) InfoReply {
	return InfoReply{ID: i.ID, URL: capturePath + i.ID, User: i.User, CreatedAt: i.CreatedAt.UTC(),
		ExpiresAt: utcOrNil(i.ExpiresAt), LockdownInfo: lockdownOf(i.Lock), AllowedFields: i.AllowedFields,
		SingleUse: i.SingleUse, Used: i.Used, WebhookURL: i.WebhookURL}
}

// TerminalEndpoint is a processing terminal's new capture endpoint on the
// wire (the secure-token side's names): URL is the path to post to, as the
// vault/capture API gives it.
type TerminalEndpoint struct {
	ID                   string    `json:"id"`
	URL                  string    `json:"url"`
	Secret               string    `json:"secret"`
	ProcessingTerminalID string    `json:"processingTerminalId"`
	ExpiresAt            time.Time `json:"expiresAt"`
}

// TerminalEndpoint is g, a single-use-token grant for terminal, on the
// wire, its URL under capturePath.
func (g Grant) TerminalEndpoint(capturePath, terminal string) TerminalEndpoint {
	return TerminalEndpoint{ID: g.ID, URL: capturePath + g.ID, Secret: g.Secret, ProcessingTerminalID: terminal,
		ExpiresAt: g.ExpiresAt.UTC()}
}

// ParseTerminalRequest reads the optional body of a processing terminal's
// capture endpoint request, {"ttl": "PT30M"} (see [TerminalTTL]), into the
// request for owner's single-use-token grant: one capture, for terminal.
// Its error is a *cardvault.InvalidError naming "body" or "/ttl".
func ParseTerminalRequest(owner, terminal string, body []byte) (GrantRequest, error) {
	var opts struct {
		TTL string `json:"ttl"`
	}
	if body = bytes.TrimSpace(body); len(body) > 0 {
		if err := jsonx.DecodeStrict(body, &opts, jsonx.Limits{MaxBytes: MaxGrantRequest, MaxDepth: 8}); err != nil {
			bad := &cardvault.InvalidError{}
			bad.Add("body", "invalid body", err.Error())
			return GrantRequest{}, bad
		}
	}
	ttl, err := TerminalTTL(opts.TTL)
	if err != nil {
		return GrantRequest{}, err
	}
	return GrantRequest{Owner: owner, Terminal: terminal, TTL: ttl, SingleUse: true}, nil
}

// RedeemedReply is a capture by a single-use-token grant on the wire: the
// token it minted. Its members are in the order the answer has always had
// them, by name.
type RedeemedReply struct {
	ExpiresAt            string `json:"expires_at"` // RFC 3339, to the second, in UTC
	ProcessingTerminalID string `json:"processing_terminal_id"`
	SingleUseToken       string `json:"single_use_token"`
}

// Reply is what answers the capture r: a vault grant's item, {"token",
// "user", "reference"}, or a single-use-token grant's RedeemedReply.
func (r Result) Reply() any {
	if r.SingleUse != nil {
		return RedeemedReply{ProcessingTerminalID: r.SingleUse.Terminal, SingleUseToken: r.SingleUse.Token,
			ExpiresAt: r.SingleUse.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	return r.Item.Of(r.User)
}

// FormReply is a new hosted form on the wire: its type, its id and the
// link to load it at.
type FormReply struct {
	Type FormType `json:"type"`
	ID   string   `json:"id"`
	Link string   `json:"link"`
}

// Reply is f on the wire, served at link.
func (f Form) Reply(link string) FormReply { return FormReply{Type: f.Type, ID: f.ID, Link: link} }
