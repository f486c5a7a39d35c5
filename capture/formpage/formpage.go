// Package formpage renders cardvault's hosted capture form: two HTML pages
// with their CSS and JavaScript embedded in the binary (no CDN, no
// framework). The card page shows the fields a merchant chose, checks them
// in the browser and posts them as JSON to a capture endpoint; the result
// page runs the merchant's callbacks once the card page has gone.
//
// Package [github.com/cardvault/cardvault/capture] owns the form's
// configuration and calls this package from [capture.Form.ServePage]; a
// server normally never calls it directly.
//
// # The card page
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
// the header X-PCIVault-Capture-Secret.
//
// On a 2xx reply the page removes every field and its button from the page
// and shows "Saved."; on a failure it shows a message and, unless the
// failure is final (401, 403, 404, 410, 423), lets the visitor try again.
// When the form has a callback for that outcome, the page hands over to the
// result page instead (see below).
//
// # Callbacks and the result page
//
// The merchant's success_callback(responseData, requestData) and
// error_callback({code, data}, requestData) — JavaScript function
// expressions — never run on the card page, which does not even hold their
// code: [Page.HasSuccessCallback] and [Page.HasErrorCallback] only say that
// a success, or any failure (code 0 when the request failed before a
// reply), is handed over. So each runs only after a submission with its
// outcome — the error callback after a failed one — never as the page
// loads or while the visitor types. The card page then removes every field from the
// page, clearing it, and replaces itself — location.replace, in the same
// window, so that a framed form stays in its frame and the card page's
// history entry, whose URL holds the secret, is gone — with
// [Page.ResultURL]. The URL's fragment, which no server and no Referer
// sees, carries the outcome, the reply, and requestData as a callback may
// see it: the posted fields with card_number masked as the secure-token
// API masks card numbers (the first six digits, one "*" for each digit
// between, the last four: "424242******4242"), account_number as "*****"
// and the last four, and no cvv; the holder's name, expiry, routing number,
// account type and reference as posted. It carries no secret. So a form
// with an error_callback leaves what follows a failure to the merchant's
// code (a fresh link, say): its fields are gone after any failure, where a
// form without one keeps them for another attempt.
//
// The result page ([RenderResult]) has no field, no secret and no capture
// URL. It carries the form's callbacks as inert data — a
// <script type="application/json"> block that html/template escapes, and
// that has no nonce, so that no browser would run it — reads the fragment,
// takes it out of the address bar, shows "Saved." or what failed, and runs
// the callback for the outcome in a dedicated Worker that its own script
// makes from a blob: URL. There the callback is compiled with new Function,
// and has:
//
//   - no DOM at all: no document and no element, so it can neither read a
//     form nor draw one; window is a stand-in, not the page's window;
//   - window.location.replace(url), window.location.assign(url) and
//     window.location.href = url, which navigate the result page's window —
//     inside a frame, the frame — to an http or https URL;
//   - window.parent.postMessage(message, targetOrigin) and
//     window.top.postMessage, which post to the merchant's page around the
//     frame (the way a framed form moves its merchant's page on: browsers
//     refuse to let a cross-site frame navigate the top page without a
//     click);
//   - console and timers. location, parent and top are also bound as
//     names of their own; document is undefined.
//
// A thrown error is logged with console.error and ends the callback. The
// seed's callback works as written, framed or as a page of its own:
//
//	window.location.replace(`https://mywebsite.com/update/success?reference=${reference}`);
//
// Anyone can open a result page with a fragment of their choosing, so
// a callback must take responseData as a claim: a merchant confirms a
// capture on its own server, by the token and reference.
//
// # Security
//
// What runs where is the boundary, not what a callback's text says:
// [CheckCallback] only checks that a callback is text (valid UTF-8, no NUL,
// not blank), since the card page never holds it and the result page holds
// it as data.
//
// [Page.SetHeaders] gives the card page the policy
//
//	default-src 'none'; script-src 'nonce-…'; style-src 'nonce-…';
//	connect-src 'self'; img-src data:; font-src data:; form-action 'none';
//	base-uri 'none'; frame-ancestors …
//
// — no 'unsafe-inline', no 'unsafe-eval': the only script on it is the
// page's own, so no merchant code exists while card fields do.
// [ResultPage.SetHeaders] gives the result page
//
//	sandbox allow-scripts; default-src 'none';
//	script-src 'nonce-…' 'unsafe-eval'; worker-src blob:; style-src 'nonce-…';
//	img-src data:; font-src data:; form-action 'none'; base-uri 'none';
//	frame-ancestors …
//
// 'unsafe-eval' is there for the worker's new Function: a worker made from
// a blob: URL runs under the policy of the page that made it, and so does
// everything the callback tries. The sandbox gives the page an opaque
// origin: it is same-origin with no card page, so no code on it can script
// a card page in a sibling frame, a popup or an opener, and it has no
// cookies or storage of the vault's origin. connect-src falls back to
// 'none': neither the page nor the callback can fetch, post or open a
// socket; importScripts is refused too. Only navigation leaves the page.
// Both pages take the merchant's CSS, and Render and RenderResult refuse
// CSS that could end its style element.
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

//go:embed page.html.tmpl result.html.tmpl form.css messages.js form.js result.js
var assets embed.FS

var (
	pageTemplate   = template.Must(template.ParseFS(assets, "page.html.tmpl"))
	resultTemplate = template.Must(template.ParseFS(assets, "result.html.tmpl"))
	baseCSS        = mustRead("form.css")
	messagesScript = mustRead("messages.js")
	formScript     = mustRead("form.js")
	resultScript   = mustRead("result.js")
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

// Page is what one rendering of the card page shows.
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
	// ResultURL is the form's result page, where the card page hands a
	// reply over to a callback: a reference on the page's own origin,
	// either a query that keeps the page's path ("?view=result", what
	// capture.Form.ServePage gives) or a path. Required when
	// HasSuccessCallback or HasErrorCallback is set.
	ResultURL string
	// HasSuccessCallback and HasErrorCallback say whether the form has a
	// success and an error callback: such an outcome is then handed over
	// to the result page, where the callback runs (see the package doc).
	// The card page never holds a callback's code.
	HasSuccessCallback, HasErrorCallback bool
	// CSS is the merchant's stylesheet, added after the page's own.
	CSS string
	// FrameAncestors are the CSP sources that may embed the page, such as
	// "https://shop.example" or "'self'"; empty for none.
	FrameAncestors []string
	// Notice, when set, replaces the form: the page shows this message and
	// no fields ("This form has expired.").
	Notice string
}

// ResultPage is what one rendering of a form's result page shows: nothing
// but a status line, and the form's callbacks as data (see the package
// doc).
type ResultPage struct {
	// Nonce allows the page's style and script elements; a fresh
	// [NewNonce] for every response.
	Nonce string
	// Type is the form type (pcd, ach, custom), as for [Page].
	Type string
	// SuccessCallback and ErrorCallback are JavaScript function
	// expressions, such as "function(responseData, requestData) {...}" or
	// "(res, req) => {...}"; empty for none. They run in a Worker, never
	// in the page.
	SuccessCallback, ErrorCallback string
	// CSS is the merchant's stylesheet, added after the page's own.
	CSS string
	// FrameAncestors are the CSP sources that may embed the page, as for
	// [Page]: the form's own, since the result page replaces the card
	// page in its frame.
	FrameAncestors []string
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
	Nonce, Title, Type, CaptureURL, ResultURL, Notice string
	HasSuccessCallback, HasErrorCallback              bool
	Fields                                            []fieldView
	BaseCSS, CSS                                      template.CSS
	Messages, Script                                  template.JS
}

// callbacks is the result page's data block: html/template writes it as
// JSON, escaped for a script element.
type callbacks struct {
	Success string `json:"success,omitempty"`
	Error   string `json:"error,omitempty"`
}

type resultView struct {
	Nonce, Title, Type string
	Callbacks          callbacks
	BaseCSS, CSS       template.CSS
	Messages, Script   template.JS
}

// ErrInvalidPage is returned by Render, RenderResult and the SetHeaders
// methods for a page they must not render: an unknown field, a bad nonce,
// a URL off the page's origin, CSS that would break out of its element, a
// callback that is not text, a frame ancestor that is not a plain source.
var ErrInvalidPage = errors.New("formpage: invalid page")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPage, fmt.Sprintf(format, args...))
}

// Render writes the card page's HTML to w. It writes nothing when p is
// invalid.
func Render(w io.Writer, p *Page) error {
	if err := checkNonce(p.Nonce); err != nil {
		return err
	}
	v := view{
		Nonce:              p.Nonce,
		Title:              titles[p.Type],
		Type:               p.Type,
		CaptureURL:         p.CaptureURL,
		ResultURL:          p.ResultURL,
		HasSuccessCallback: p.HasSuccessCallback,
		HasErrorCallback:   p.HasErrorCallback,
		Notice:             p.Notice,
		BaseCSS:            template.CSS(baseCSS),
		Messages:           template.JS(messagesScript),
		Script:             template.JS(formScript),
	}
	if v.Title == "" {
		return invalid("unknown form type %q", p.Type)
	}
	if p.Notice == "" {
		if !pathOnOrigin(p.CaptureURL) {
			return invalid("the capture URL must be a path on the page's own origin")
		}
		if len(p.Fields) == 0 {
			return invalid("no visible field")
		}
		if (p.HasSuccessCallback || p.HasErrorCallback) && !(pathOnOrigin(p.ResultURL) || strings.HasPrefix(p.ResultURL, "?")) {
			return invalid("the result URL must be a query or a path on the page's own origin")
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
	css, err := pageCSS(p.CSS)
	if err != nil {
		return err
	}
	v.CSS = css
	return execute(w, pageTemplate, &v)
}

// RenderResult writes the result page's HTML to w. It writes nothing when
// p is invalid.
func RenderResult(w io.Writer, p *ResultPage) error {
	if err := checkNonce(p.Nonce); err != nil {
		return err
	}
	v := resultView{
		Nonce:     p.Nonce,
		Title:     titles[p.Type],
		Type:      p.Type,
		Callbacks: callbacks{Success: p.SuccessCallback, Error: p.ErrorCallback},
		BaseCSS:   template.CSS(baseCSS),
		Messages:  template.JS(messagesScript),
		Script:    template.JS(resultScript),
	}
	if v.Title == "" {
		return invalid("unknown form type %q", p.Type)
	}
	for _, c := range []struct{ name, js string }{{"success callback", p.SuccessCallback}, {"error callback", p.ErrorCallback}} {
		if c.js == "" {
			continue
		}
		if err := CheckCallback(c.js); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidPage, c.name, err)
		}
	}
	css, err := pageCSS(p.CSS)
	if err != nil {
		return err
	}
	v.CSS = css
	return execute(w, resultTemplate, &v)
}

func pageCSS(css string) (template.CSS, error) {
	if css == "" {
		return "", nil
	}
	if err := CheckCSS(css); err != nil {
		return "", fmt.Errorf("%w: CSS: %w", ErrInvalidPage, err)
	}
	return template.CSS(css), nil
}

// execute renders to a buffer first, so that a template error leaves w
// untouched.
func execute(w io.Writer, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return fmt.Errorf("formpage: rendering: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// pathOnOrigin reports whether u is an absolute path that stays on the
// page's origin: it starts with one "/", and has no "\", which browsers
// read as "/" (so "/\\evil.example" would be another host).
func pathOnOrigin(u string) bool {
	return strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.Contains(u, `\`)
}

// SetHeaders sets the response headers of the card page on h:
//
//   - Content-Security-Policy: default-src 'none'; script-src and style-src
//     only the page's nonce; connect-src 'self' (the capture endpoint);
//     img-src and font-src data: (for the merchant's CSS); form-action
//     'none' (if the script did not run, the browser must not submit the
//     fields into a URL); base-uri 'none'; frame-ancestors as configured.
//     No 'unsafe-inline' and no 'unsafe-eval'.
//   - Referrer-Policy: no-referrer, because the page's URL carries the
//     capture secret.
//   - Cache-Control: no-store, for the same reason and because every
//     response has its own nonce.
//   - X-Content-Type-Options: nosniff, and Content-Type text/html; charset=utf-8.
func (p *Page) SetHeaders(h http.Header) error {
	return setHeaders(h, p.ContentSecurityPolicy)
}

// ContentSecurityPolicy returns the card page's policy (see
// [Page.SetHeaders]).
func (p *Page) ContentSecurityPolicy() (string, error) {
	nonce, ancestors, err := policySources(p.Nonce, p.FrameAncestors)
	if err != nil {
		return "", err
	}
	return "default-src 'none'; script-src " + nonce + "; style-src " + nonce +
		"; connect-src 'self'; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors " +
		ancestors, nil
}

// SetHeaders sets the response headers of the result page on h: those of
// [Page.SetHeaders], with the result page's policy
// ([ResultPage.ContentSecurityPolicy]).
func (p *ResultPage) SetHeaders(h http.Header) error {
	return setHeaders(h, p.ContentSecurityPolicy)
}

// ContentSecurityPolicy returns the result page's policy: sandbox
// allow-scripts (an opaque origin, see the package doc); default-src
// 'none', so no connection at all; script-src the page's nonce and
// 'unsafe-eval', for the callback's new Function in the worker, which
// inherits this policy; worker-src blob:, for that worker; style-src the
// nonce; img-src and font-src data:; form-action 'none'; base-uri 'none';
// frame-ancestors as configured.
func (p *ResultPage) ContentSecurityPolicy() (string, error) {
	nonce, ancestors, err := policySources(p.Nonce, p.FrameAncestors)
	if err != nil {
		return "", err
	}
	return "sandbox allow-scripts; default-src 'none'; script-src " + nonce + " 'unsafe-eval'; worker-src blob:; style-src " + nonce +
		"; img-src data:; font-src data:; form-action 'none'; base-uri 'none'; frame-ancestors " + ancestors, nil
}

// setHeaders sets a page's headers with the policy it returns, or none of
// them when it returns an error.
func setHeaders(h http.Header, policy func() (string, error)) error {
	csp, err := policy()
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

// policySources checks a page's nonce and frame ancestors and returns them
// as sources: "'nonce-…'", and the frame ancestors joined ('none' for an
// empty list).
func policySources(nonce string, frameAncestors []string) (string, string, error) {
	if err := checkNonce(nonce); err != nil {
		return "", "", err
	}
	if len(frameAncestors) == 0 {
		return "'nonce-" + nonce + "'", "'none'", nil
	}
	for _, s := range frameAncestors {
		if !plainSource(s) {
			return "", "", invalid("frame ancestor %q is not a plain CSP source", s)
		}
	}
	return "'nonce-" + nonce + "'", strings.Join(frameAncestors, " "), nil
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

// CheckCallback returns an error when js is not a callback's text: invalid
// UTF-8, a NUL, or nothing but white space. It is a sanity check, not the
// security boundary: the card page never holds a callback, and the result
// page holds it as escaped data and runs it in a Worker without a DOM (see
// the package doc), so no text can end an element or run early. The
// message never quotes js.
func CheckCallback(js string) error {
	return checkText(js)
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
