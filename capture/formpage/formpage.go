// Package formpage renders cardvault's hosted capture form: one HTML page,
// with its CSS and JavaScript embedded in the binary (no CDN, no framework),
// that shows the fields a merchant chose, checks them in the browser and posts
// them as JSON to a capture endpoint.
//
// Package [github.com/cardvault/cardvault/capture] owns the form's
// configuration and calls this package from [capture.Form.ServePage]; a
// server normally never calls it directly.
//
// # The page
//
// Every field has a stable id for the merchant's CSS: cv-card-number,
// cv-card-holder, cv-expiry, cv-cvv, cv-reference, cv-account-holder,
// cv-routing-number, cv-account-number, cv-account-type; its label, its error
// message (id + "-error", role=alert) and its wrapper (id + "-field") follow
// the same pattern. The form is #cv-form, the button #cv-submit, the result
// message #cv-status, the detected card brand #cv-card-brand; a page that
// cannot take input shows #cv-notice instead of the form.
//
// In the browser the page reads secret from its own query string (the
// server never writes the secret into the HTML), and the optional
// reference: it fills a visible reference field, or is posted as
// "reference" when that field is hidden. It checks the visible fields
// (Luhn, length by brand, expiry MM/YY not in the past, CVV 3 or 4 digits, 4
// for American Express, ABA routing number check), and posts nothing while a
// checked field is invalid. It then POSTs the fields to the capture URL with
// the header X-PCIVault-Capture-Secret and runs the merchant's
// success_callback(responseData, requestData) on a 2xx reply, or
// error_callback({code, data}, requestData) otherwise (code 0 when the
// request failed before a reply). Without a callback it shows a plain
// message; a failure message is shown in any case.
//
// # Security
//
// [Page.SetHeaders] sets a Content-Security-Policy that allows only the
// page's own nonce'd style and script elements, fetches to its own origin,
// no form submission, no base URL and only the configured frame ancestors.
// The merchant's callbacks run in nonce'd script elements of their own, so
// no 'unsafe-inline' or 'unsafe-eval' is needed; [CheckCallback] and
// [CheckCSS] refuse text that could end those elements early. Render refuses
// them too, so that a bad Page fails instead of rendering a broken page.
package formpage

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"
)

//go:embed page.html.tmpl form.css form.js
var assets embed.FS

var (
	pageTemplate = template.Must(template.ParseFS(assets, "page.html.tmpl"))
	baseCSS      = mustRead("form.css")
	script       = mustRead("form.js")
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Field is one visible field of a page.
type Field struct {
	// Name is the field's name in the posted JSON: card_number, card_holder,
	// expiry, cvv, reference, account_holder, routing_number,
	// account_number or account_type.
	Name string
	// Validate turns on the field's checks in the browser. A field that is
	// not validated is posted as typed, and left out when empty.
	Validate bool
}

// Page is what one rendering of the form shows.
type Page struct {
	// Nonce allows the page's style and script elements; a fresh
	// [NewNonce] for every response.
	Nonce string
	// Type is the form type (pcd, ach, custom), used for the title and a
	// class on #cv-root.
	Type string
	// Fields are the visible fields, in page order.
	Fields []Field
	// CaptureURL is where the page posts: a path on the page's own origin,
	// such as "/v1/capture/<grant id>" (the policy allows no other).
	CaptureURL string
	// SuccessCallback and ErrorCallback are JavaScript function
	// expressions, such as "function(responseData, requestData) {...}" or
	// "(res, req) => {...}"; empty for none.
	SuccessCallback, ErrorCallback string
	// CSS is the merchant's stylesheet, added after the page's own.
	CSS string
	// FrameAncestors are the CSP sources that may embed the page, such as
	// "https://shop.example" or "'self'"; empty for none.
	FrameAncestors []string
	// Notice, when set, replaces the form: the page shows this message and
	// no fields ("This form has expired.").
	Notice string
}

// spec is how a field looks on the page.
type spec struct {
	id, label, autocomplete, inputMode, placeholder string
	maxLength                                       int
	optional                                        bool // not required even when validated
}

var specs = map[string]spec{
	"card_number":    {id: "cv-card-number", label: "Card number", autocomplete: "cc-number", inputMode: "numeric", maxLength: 23},
	"card_holder":    {id: "cv-card-holder", label: "Name on card", autocomplete: "cc-name", maxLength: 100},
	"expiry":         {id: "cv-expiry", label: "Expiry date (MM/YY)", autocomplete: "cc-exp", inputMode: "numeric", placeholder: "MM/YY", maxLength: 7},
	"cvv":            {id: "cv-cvv", label: "Security code (CVV)", autocomplete: "cc-csc", inputMode: "numeric", maxLength: 4},
	"reference":      {id: "cv-reference", label: "Reference", autocomplete: "off", maxLength: 255, optional: true},
	"account_holder": {id: "cv-account-holder", label: "Account holder", autocomplete: "name", maxLength: 100},
	"routing_number": {id: "cv-routing-number", label: "Routing number", autocomplete: "off", inputMode: "numeric", maxLength: 9},
	"account_number": {id: "cv-account-number", label: "Account number", autocomplete: "off", inputMode: "numeric", maxLength: 17},
	"account_type":   {id: "cv-account-type", label: "Account type"},
}

// KnownField reports whether the page knows how to show a field of that
// name.
func KnownField(name string) bool {
	_, ok := specs[name]
	return ok
}

var titles = map[string]string{
	"pcd":    "Card details",
	"ach":    "Bank account details",
	"custom": "Payment details",
}

// fieldView is a Field with everything the template needs.
type fieldView struct {
	Name, ID, Label, Autocomplete, InputMode, Placeholder string
	MaxLength                                             int
	Validate, Required                                    bool
}

type view struct {
	Nonce, Title, Type, CaptureURL, Notice string
	Fields                                 []fieldView
	BaseCSS, CSS                           template.CSS
	Script, SuccessCallback, ErrorCallback template.JS
}

// ErrInvalidPage is returned by Render and SetHeaders for a Page they must
// not render: an unknown field, a bad nonce, callbacks or CSS that would
// break out of their element, a frame ancestor that is not a plain source.
var ErrInvalidPage = errors.New("formpage: invalid page")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPage, fmt.Sprintf(format, args...))
}

// Render writes the page's HTML to w. It writes nothing when p is invalid.
func Render(w io.Writer, p *Page) error {
	if err := checkNonce(p.Nonce); err != nil {
		return err
	}
	v := view{
		Nonce:      p.Nonce,
		Title:      titles[p.Type],
		Type:       p.Type,
		CaptureURL: p.CaptureURL,
		Notice:     p.Notice,
		BaseCSS:    template.CSS(baseCSS),
		Script:     template.JS(script),
	}
	if v.Title == "" {
		return invalid("unknown form type %q", p.Type)
	}
	if p.Notice == "" {
		if !strings.HasPrefix(p.CaptureURL, "/") || strings.HasPrefix(p.CaptureURL, "//") {
			return invalid("the capture URL must be a path on the page's own origin")
		}
		if len(p.Fields) == 0 {
			return invalid("no visible field")
		}
	}
	seen := make(map[string]bool, len(p.Fields))
	for _, f := range p.Fields {
		s, ok := specs[f.Name]
		if !ok {
			return invalid("unknown field %q", f.Name)
		}
		if seen[f.Name] {
			return invalid("field %q twice", f.Name)
		}
		seen[f.Name] = true
		v.Fields = append(v.Fields, fieldView{
			Name: f.Name, ID: s.id, Label: s.label,
			Autocomplete: s.autocomplete, InputMode: s.inputMode, Placeholder: s.placeholder,
			MaxLength: s.maxLength, Validate: f.Validate, Required: f.Validate && !s.optional,
		})
	}
	for _, c := range []struct {
		name string
		js   string
		dst  *template.JS
	}{{"success callback", p.SuccessCallback, &v.SuccessCallback}, {"error callback", p.ErrorCallback, &v.ErrorCallback}} {
		if c.js == "" {
			continue
		}
		if err := CheckCallback(c.js); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidPage, c.name, err)
		}
		*c.dst = template.JS(c.js)
	}
	if p.CSS != "" {
		if err := CheckCSS(p.CSS); err != nil {
			return fmt.Errorf("%w: CSS: %w", ErrInvalidPage, err)
		}
		v.CSS = template.CSS(p.CSS)
	}
	// Render to a buffer first so that a template error leaves w untouched.
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, &v); err != nil {
		return fmt.Errorf("formpage: rendering: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// SetHeaders sets the response headers of the page on h:
//
//   - Content-Security-Policy: default-src 'none'; script-src and style-src
//     only the page's nonce; connect-src 'self' (the capture endpoint);
//     img-src and font-src data: (for the merchant's CSS); form-action
//     'none' (if the script did not run, the browser must not submit the
//     fields into a URL); base-uri 'none'; frame-ancestors as configured.
//   - Referrer-Policy: no-referrer, because the page's URL carries the
//     capture secret.
//   - Cache-Control: no-store, for the same reason and because every
//     response has its own nonce.
//   - X-Content-Type-Options: nosniff, and Content-Type text/html; charset=utf-8.
func (p *Page) SetHeaders(h http.Header) error {
	csp, err := p.ContentSecurityPolicy()
	if err != nil {
		return err
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	return nil
}

// ContentSecurityPolicy returns the page's policy (see [Page.SetHeaders]).
func (p *Page) ContentSecurityPolicy() (string, error) {
	if err := checkNonce(p.Nonce); err != nil {
		return "", err
	}
	ancestors := "'none'"
	if len(p.FrameAncestors) > 0 {
		for _, s := range p.FrameAncestors {
			if !plainSource(s) {
				return "", invalid("frame ancestor %q is not a plain CSP source", s)
			}
		}
		ancestors = strings.Join(p.FrameAncestors, " ")
	}
	nonce := "'nonce-" + p.Nonce + "'"
	return "default-src 'none'; script-src " + nonce + "; style-src " + nonce +
		"; connect-src 'self'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors " +
		ancestors, nil
}

// plainSource reports whether s is one CSP source expression that cannot
// end the directive or the header: printable ASCII, no space, ';' or ','.
func plainSource(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == ';' || c == ',' {
			return false
		}
	}
	return true
}

// NewNonce returns a fresh nonce for one response: 128 bits from
// crypto/rand, base64url without padding.
func NewNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkNonce accepts the base64-value grammar of CSP (letters, digits, + /
// - _, up to two = at the end), 16 to 128 characters.
func checkNonce(n string) error {
	if len(n) < 16 || len(n) > 128 {
		return invalid("the nonce must have 16 to 128 characters")
	}
	body := strings.TrimRight(n, "=")
	if len(n)-len(body) > 2 {
		return invalid("the nonce is not base64")
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_') {
			return invalid("the nonce is not base64")
		}
	}
	return nil
}

// CheckCallback returns an error when js cannot be embedded as the body of
// a script element: invalid UTF-8, a NUL, "</script" (which ends the
// element) or "<!--" (which starts the HTML parser's escaped state, in which
// "<script" changes where the element ends), in any letter case. The
// message never quotes js.
func CheckCallback(js string) error {
	if err := checkText(js); err != nil {
		return err
	}
	lower := asciiLower(js)
	if strings.Contains(lower, "</script") {
		return errors.New(`contains "</script", which would end the script element`)
	}
	if strings.Contains(lower, "<!--") {
		return errors.New(`contains "<!--", which changes how the script element is parsed`)
	}
	return nil
}

// CheckCSS returns an error when css cannot be embedded as the body of a
// style element: invalid UTF-8, a NUL, or "</style" in any letter case.
func CheckCSS(css string) error {
	if err := checkText(css); err != nil {
		return err
	}
	if strings.Contains(asciiLower(css), "</style") {
		return errors.New(`contains "</style", which would end the style element`)
	}
	return nil
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return errors.New("contains a NUL character")
	}
	if strings.TrimSpace(s) == "" {
		return errors.New("is empty")
	}
	return nil
}

// asciiLower lowers only A-Z, the way the HTML parser compares tag names;
// strings.ToLower would also turn some non-ASCII letters (the Kelvin sign)
// into ASCII ones.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
