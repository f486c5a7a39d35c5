package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/mustachex"
	"github.com/cardvault/cardvault/vault"
)

// cardFields are the keys whose values let someone pay with the card or
// the account, or identify its holder: they may fill the body only.
var cardFields = append(append(slices.Clone(vault.NumberFields), vault.CVVFields...),
	"pin", "track1", "track2", "track_data",
	"expiry", "card_expiry", "expiry_month", "expiry_year", "expiry_year_short",
	"card_holder", "cardholder_name", "account_holder", "routing_number", "transit_number", "institution_number",
)

// CardFields returns the keys that are card fields (see [IsCardField]).
func CardFields() []string { return slices.Clone(cardFields) }

// IsCardField reports whether a template key names a card field: one of
// the vault's number fields (number, card_number, n, account_number), a
// verification code (cvv, cvc, cvv2, cvc2, cid, csc, security_code), a PIN,
// track data (track1, track2, track_data), an expiry (expiry, card_expiry
// and the derived expiry_month, expiry_year, expiry_year_short), a holder's
// name (card_holder, cardholder_name, account_holder) or a bank's routing,
// transit or institution number.
// The comparison ignores case, and a dotted key is a card field when any of
// its segments is ("card.number").
func IsCardField(key string) bool {
	for _, seg := range strings.Split(key, ".") {
		for _, f := range cardFields {
			if strings.EqualFold(seg, f) {
				return true
			}
		}
	}
	return false
}

// cardFieldIn returns the first key of t that names a card field, or "".
func cardFieldIn(t *mustachex.Template) string {
	for _, n := range t.Names() {
		if IsCardField(n) {
			return n
		}
	}
	return ""
}

// Rendered is a request ready to send: the call's templates filled with an
// item. It holds card data: its String, Format and LogValue show the
// method and the host only; MarshalJSON (the reply's populated_template
// with debug=true) shows everything.
type Rendered struct {
	Method  string
	URL     string
	Headers []Header
	Body    []byte
}

// clone is a copy that shares nothing with r.
func (r Rendered) clone() *Rendered {
	c := r
	c.Headers = slices.Clone(r.Headers)
	c.Body = bytes.Clone(r.Body)
	return &c
}

// Host returns the host of the rendered URL, as Call.Host.
func (r Rendered) Host() string {
	if u, err := url.Parse(r.URL); err == nil {
		return strings.ToLower(u.Host)
	}
	return ""
}

// String shows the method and the host only.
func (r Rendered) String() string { return r.Method + " https://" + r.Host() + "/…" }

// Format writes String for every verb.
func (r Rendered) Format(f fmt.State, _ rune) { fmt.Fprint(f, r.String()) }

// LogValue is the request in a structured log: method, host and body size.
func (r Rendered) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", r.Method), slog.String("host", r.Host()), slog.Int("body_bytes", len(r.Body)))
}

// MarshalJSON returns the rendered request in the shape of a call's
// request — {"method", "url", "headers": [{"Name": "value"}], "body"} —
// the populated_template of a debug reply. It holds the card data the
// templates named.
func (r Rendered) MarshalJSON() ([]byte, error) {
	return requestJSON(r.Method, r.URL, r.Headers, string(r.Body))
}

// Render fills the call's templates with an item, a JSON object (the
// outgoing copy, after any rules) of at most [MaxItemSize] bytes.
//
// The item's own keys are there as they are, and the derived keys besides:
// card_number without spaces or dashes (it replaces the stored one), and,
// from expiry (MM/YY) or card_expiry (MM-YYYY) as [vault.ItemExpiry] reads
// them, expiry_month (MM), expiry_year (YYYY) and expiry_year_short (YY) —
// unless the item has keys of those names, which are kept.
//
// The URL's values are percent-encoded, header values are as they are, and
// the body's values are escaped by its Content-Type. Then the rendered URL
// must pass the guard again and keep the call's host; a rendered header
// must hold no CR, LF or other control character; and neither may hold
// the item's card or account number (however it got there: a rule can copy
// it to another key).
//
// A key the item lacks is an error wrapping [ErrMissingKey] that names the
// key and the place ("/request/body"); other faults wrap [ErrRender] or
// [ErrTooLarge]. No error holds a value of the item.
func Render(c Call, item []byte) (Rendered, error) {
	if c.url == nil || c.body == nil {
		return Rendered{}, errors.New("proxy: Render of a Call not made by ParseRequest or NewCall")
	}
	if len(item) > MaxItemSize {
		return Rendered{}, fmt.Errorf("%w: the item is %d bytes, at most %d", ErrTooLarge, len(item), MaxItemSize)
	}
	if err := jsonx.Check(item, jsonx.Limits{MaxBytes: MaxItemSize, MaxDepth: mustachex.MaxDataDepth}); err != nil {
		return Rendered{}, fmt.Errorf("%w: the item: %w", ErrRender, err)
	}
	if !gjson.ParseBytes(item).IsObject() {
		return Rendered{}, fmt.Errorf("%w: the item must be a JSON object", ErrRender)
	}
	data, err := itemData(item)
	if err != nil {
		return Rendered{}, err
	}
	numbers := itemNumbers(item)

	r := Rendered{Method: c.req.Method}
	u, err := c.url.Render(data)
	if err != nil {
		return Rendered{}, renderFault("/request/url", err)
	}
	r.URL = string(u)
	if err := c.guard.CheckURL(r.URL); err != nil {
		if errors.Is(err, cardvault.ErrForbidden) {
			return Rendered{}, fmt.Errorf("%w: /request/url: %s", ErrRefused, guardMessage(err))
		}
		return Rendered{}, fmt.Errorf("%w: /request/url: the rendered URL: %s", ErrRender, guardMessage(err))
	}
	if ru, err := url.Parse(r.URL); err != nil || strings.ToLower(ru.Host) != c.host {
		return Rendered{}, fmt.Errorf("%w: /request/url: the rendered URL goes to another host", ErrRender)
	}
	if holdsNumber(r.URL, numbers) {
		return Rendered{}, fmt.Errorf("%w: /request/url: the rendered URL holds the item's card or account number (a rule copied it?); card data goes in the body only", ErrRender)
	}

	r.Headers = make([]Header, len(c.req.Headers))
	for i, h := range c.req.Headers {
		at := headerAt(i)
		r.Headers[i] = h
		t := c.headers[i]
		if t == nil {
			continue
		}
		v, err := t.Render(data)
		if err != nil {
			return Rendered{}, renderFault(at, err)
		}
		switch {
		case len(v) > MaxHeaderValueLen:
			return Rendered{}, fmt.Errorf("%w: %s: the rendered value is over %d bytes", ErrTooLarge, at, MaxHeaderValueLen)
		case !validHeaderValue(string(v)):
			return Rendered{}, fmt.Errorf("%w: %s: the rendered value holds CR, LF, NUL or another control character", ErrRender, at)
		case holdsNumber(string(v), numbers):
			return Rendered{}, fmt.Errorf("%w: %s: the rendered value holds the item's card or account number; card data goes in the body only", ErrRender, at)
		}
		r.Headers[i].Value = string(v)
	}

	body, err := c.body.Render(data)
	if err != nil {
		return Rendered{}, renderFault("/request/body", err)
	}
	r.Body = body
	return r, nil
}

// itemData is the item as template data, with the derived keys.
func itemData(item []byte) (mustachex.Data, error) {
	data, err := mustachex.DataOf(item)
	if err != nil {
		return mustachex.Data{}, fmt.Errorf("%w: the item: %w", ErrRender, err)
	}
	if n, err := vault.ItemNumber(item, "card_number"); err == nil {
		data.SetText("card_number", n)
	}
	if e, err := vault.ItemExpiry(item); err == nil {
		for _, d := range []struct{ key, value string }{
			{"expiry_month", e.MM()}, {"expiry_year", e.YYYY()}, {"expiry_year_short", e.YY()},
		} {
			if !data.Has(d.key) {
				data.SetText(d.key, d.value)
			}
		}
	}
	return data, nil
}

// minNumber is the shortest number looked for in a URL or header: shorter
// ones (a four-digit account number) occur in URLs by chance.
const minNumber = 8

// itemNumbers are the item's card and account numbers, normalized, that a
// URL or header may not hold.
func itemNumbers(item []byte) []string {
	var out []string
	for _, f := range vault.NumberFields {
		if n, err := vault.ItemNumber(item, f); err == nil && len(n) >= minNumber {
			out = append(out, n)
		}
	}
	return out
}

// separators are what may stand between the digits of a number in a URL
// or header.
var separators = strings.NewReplacer("%20", "", "+", "", "-", "", " ", "")

func holdsNumber(s string, numbers []string) bool {
	digits := separators.Replace(s)
	for _, n := range numbers {
		if strings.Contains(s, n) || strings.Contains(digits, n) {
			return true
		}
	}
	return false
}

// renderFault turns a template error into the package's, at the place.
func renderFault(at string, err error) error {
	msg := templateMessage(err)
	var ke *mustachex.KeyError
	switch {
	case errors.Is(err, mustachex.ErrMissingKey) && errors.As(err, &ke):
		in := ""
		if ke.Section != "" {
			in = fmt.Sprintf(" (in section %q)", ke.Section)
		}
		return &renderError{kind: ErrMissingKey, msg: fmt.Sprintf("%s: the item has no key %q%s", at, ke.Key, in)}
	case errors.Is(err, mustachex.ErrTooLarge):
		return &renderError{kind: ErrTooLarge, msg: at + ": " + msg}
	}
	return &renderError{kind: ErrRender, msg: at + ": " + msg}
}

type renderError struct {
	kind error
	msg  string
}

func (e *renderError) Error() string { return "proxy: " + e.msg }
func (e *renderError) Unwrap() error { return e.kind }
