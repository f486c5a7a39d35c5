package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/mustachex"
)

// Limits of a call.
const (
	// MaxCallSize is the most bytes of a call's JSON body.
	MaxCallSize = 256 << 10
	// MaxURLLength is the most bytes of the request's URL, as a template
	// and as rendered (the egress guard's limit).
	MaxURLLength = egress.MaxURLLength
	// MaxHeaders is the most headers a request has; MaxHeaderNameLen and
	// MaxHeaderValueLen bound one, as a template and as rendered, and
	// MaxHeaderBytes all of them together.
	MaxHeaders        = 64
	MaxHeaderNameLen  = 128
	MaxHeaderValueLen = 8 << 10
	MaxHeaderBytes    = 32 << 10
	// MaxBodyTemplate is the most bytes of the body template;
	// MaxRenderedBody of the body it renders to.
	MaxBodyTemplate = 64 << 10
	MaxRenderedBody = 1 << 20
	// MaxWebhookSecretLen bounds the webhook's secret.
	MaxWebhookSecretLen = 256
	// MaxItemSize is the most bytes of an item Render takes (the vault
	// keeps items of 256 KiB; rules may grow the outgoing copy).
	MaxItemSize = 1 << 20
)

// Errors. Each wraps a kind of the root package; none holds a value of an
// item, a header or a secret.
var (
	// ErrInvalidCall: the call's JSON or one of its fields is malformed or
	// breaks a rule (a template injection, a card field in the URL, a
	// forbidden header, ...). It comes with a *cardvault.InvalidError
	// listing every fault by JSON Pointer ("/request/headers/2").
	ErrInvalidCall = fmt.Errorf("proxy: invalid call: %w", cardvault.ErrInvalid)
	// ErrTooLarge: a call's JSON over MaxCallSize, or a rendering over its
	// limit.
	ErrTooLarge = fmt.Errorf("proxy: %w", cardvault.ErrTooLarge)
	// ErrRefused: a destination the deployment does not send to: an IP
	// literal of a refused class (the egress guard), a host outside the
	// Policy's AllowHosts, http://.
	ErrRefused = fmt.Errorf("proxy: destination refused: %w", cardvault.ErrForbidden)
	// ErrMissingKey: a template names a key the item lacks. The error
	// names the key and the place ("/request/body").
	ErrMissingKey = fmt.Errorf("proxy: the item has no such key: %w", cardvault.ErrInvalid)
	// ErrRender: the item cannot fill the templates: a key holding an
	// object or an array, a rendered URL or header that is not valid, a
	// card number where none may go, an item that is not a JSON object.
	ErrRender = fmt.Errorf("proxy: the templates cannot be rendered with the item: %w", cardvault.ErrInvalid)
)

// methods are those a call may use.
var methods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// forbiddenHeaders are set by the transport, or are hop-by-hop (RFC 9110
// section 7.6.1) and so describe a connection the caller does not own; a
// caller setting them could smuggle a second request or reach a proxy.
var forbiddenHeaders = []string{
	"connection", "content-length", "expect", "host", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
}

// Request is the request of a call as its JSON has it. URL, header values
// and Body are mustache templates.
type Request struct {
	Method  string
	URL     string
	Headers []Header
	Body    string
}

// Header is one request header. In JSON a header is an object with one
// member, {"Content-Type": "application/json"}, and the headers a list of
// them, as in PCI Vault's API.
type Header struct {
	Name, Value string
}

// Webhook is where an asynchronous call's answer goes. Secret may be
// empty.
type Webhook struct {
	URL, Secret string
}

// Policy is what a deployment lets calls do.
type Policy struct {
	// Guard checks every destination URL as it will when sending
	// (HTTPS, no user-info, a plain host, IP literals of refused classes
	// only through the operator's allow-list). Required.
	Guard *egress.Guard
	// AllowHosts, when not empty, lists the only hosts a request may go
	// to (-proxy-allow-hosts): each compared with the URL's host name
	// whole, ignoring case, without the port. Webhooks are not limited by
	// it.
	AllowHosts []string
	// WebhookGuard, when not nil, checks the webhook's URL instead of
	// Guard: the guard webhooks are delivered through (which may allow
	// http:// where a payment service provider's never does).
	WebhookGuard *egress.Guard
}

// Call is a checked proxy call, made by [ParseRequest] or [NewCall]: a
// request whose templates are parsed, and an optional webhook. It is
// immutable; copies share its parsed templates, which any number of
// goroutines may render at once. The zero Call renders nothing.
//
// A Call holds the merchant's header values (a PSP's API key, often) and
// the webhook's secret: its String and Format show only the method and the
// host, and so does its LogValue in a structured log. MarshalJSON gives it
// all.
type Call struct {
	req     Request
	hook    *Webhook
	guard   *egress.Guard
	host    string // lower case, as url.URL.Host has it (with a port, if any)
	url     *mustachex.Template
	headers []*mustachex.Template // nil for a static value
	body    *mustachex.Template
}

// ParseRequest checks a call's JSON body:
//
//	{
//	  "request": {
//	    "method":  "POST",
//	    "url":     "https://api.psp.example/v1/payment_methods",
//	    "headers": [{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_..."}],
//	    "body":    "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[cvc]={{cvv}}"
//	  },
//	  "webhook": {"url": "https://merchant.example/hooks/psp", "secret": "..."}
//	}
//
// request, its method and url are required; headers, body and webhook (and
// webhook.secret) may be left out or null. The JSON must be strict (see
// package jsonx) and hold nothing else: unknown members are refused. Then
// it checks the call as [NewCall] does.
//
// A body over [MaxCallSize] returns an error wrapping [ErrTooLarge]; a
// destination the policy refuses one wrapping [ErrRefused]; anything else
// wrong an error wrapping [ErrInvalidCall] that is a *cardvault.InvalidError
// listing every fault by JSON Pointer.
func ParseRequest(body []byte, p Policy) (Call, error) {
	if len(body) > MaxCallSize {
		return Call{}, fmt.Errorf("%w: a call is at most %d bytes, got %d", ErrTooLarge, MaxCallSize, len(body))
	}
	bad := &cardvault.InvalidError{}
	req, hook := decodeCall(body, bad)
	if err := bad.Err(); err != nil {
		return Call{}, &callError{inv: bad}
	}
	return NewCall(req, hook, p)
}

func decodeCall(body []byte, bad *cardvault.InvalidError) (Request, *Webhook) {
	var req Request
	var hook *Webhook
	if err := jsonx.Check(body, jsonx.Limits{MaxBytes: MaxCallSize, MaxDepth: 8}); err != nil {
		field := "/"
		var je *jsonx.Error
		if errors.As(err, &je) && je.Path != "" {
			field = je.Path
		}
		bad.Add(field, "invalid JSON", err.Error())
		return req, nil
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		bad.Add("/", "invalid value", `a call is an object {"request": {...}, "webhook": {...}}`)
		return req, nil
	}
	seenRequest := false
	root.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "request":
			seenRequest = true
			req = decodeRequest(v, bad)
		case "webhook":
			hook = decodeWebhook(v, bad)
		default:
			bad.Add("/", "unknown member", "a call has only the members request and webhook")
		}
		return true
	})
	if !seenRequest {
		bad.Add("/request", "required", `is required: the request to send, {"method", "url", "headers", "body"}`)
	}
	return req, hook
}

func decodeRequest(v gjson.Result, bad *cardvault.InvalidError) Request {
	var r Request
	if !v.IsObject() {
		bad.Add("/request", "invalid value", `the request is an object {"method", "url", "headers", "body"}`)
		return r
	}
	seen := map[string]bool{}
	v.ForEach(func(k, m gjson.Result) bool {
		at := "/request/" + k.Str
		seen[k.Str] = true
		switch k.Str {
		case "method", "url", "body":
			if k.Str == "body" && m.Type == gjson.Null {
				return true
			}
			if m.Type != gjson.String {
				bad.Add(at, "invalid value", "must be a string")
				return true
			}
			switch k.Str {
			case "method":
				r.Method = m.Str
			case "url":
				r.URL = m.Str
			default:
				r.Body = m.Str
			}
		case "headers":
			r.Headers = decodeHeaders(m, bad)
		default:
			bad.Add("/request", "unknown member", "a request has only the members method, url, headers and body")
		}
		return true
	})
	for _, req := range []string{"method", "url"} {
		if !seen[req] {
			bad.Add("/request/"+req, "required", "is required")
		}
	}
	return r
}

func decodeHeaders(v gjson.Result, bad *cardvault.InvalidError) []Header {
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsArray() {
		bad.Add("/request/headers", "invalid value", `headers are a list of one-member objects: [{"Content-Type": "application/json"}]`)
		return nil
	}
	var hs []Header
	i := 0
	v.ForEach(func(_, h gjson.Result) bool {
		at := headerAt(i)
		i++
		if i > MaxHeaders {
			bad.Add("/request/headers", "too many headers", fmt.Sprintf("a request has at most %d headers", MaxHeaders))
			return false
		}
		n := 0
		var hdr Header
		if h.IsObject() {
			h.ForEach(func(k, val gjson.Result) bool {
				n++
				hdr = Header{Name: k.Str, Value: val.Str}
				if val.Type != gjson.String {
					n = -1 // not a string value
					return false
				}
				return true
			})
		}
		switch {
		case !h.IsObject() || n == 0 || n > 1:
			bad.Add(at, "invalid value", `a header is an object with one member: {"Name": "value"}`)
		case n < 0:
			bad.Add(at, "invalid value", "a header's value must be a string")
		default:
			hs = append(hs, hdr)
		}
		return true
	})
	return hs
}

func decodeWebhook(v gjson.Result, bad *cardvault.InvalidError) *Webhook {
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsObject() {
		bad.Add("/webhook", "invalid value", `the webhook is an object {"url", "secret"}`)
		return nil
	}
	w := &Webhook{}
	v.ForEach(func(k, m gjson.Result) bool {
		switch k.Str {
		case "url", "secret":
			if k.Str == "secret" && m.Type == gjson.Null {
				return true
			}
			if m.Type != gjson.String {
				bad.Add("/webhook/"+k.Str, "invalid value", "must be a string")
				return true
			}
			if k.Str == "url" {
				w.URL = m.Str
			} else {
				w.Secret = m.Str
			}
		default:
			bad.Add("/webhook", "unknown member", "a webhook has only the members url and secret")
		}
		return true
	})
	return w
}

// callError is an invalid call: errors.Is finds ErrInvalidCall and
// cardvault.ErrInvalid, errors.As the InvalidError.
type callError struct{ inv *cardvault.InvalidError }

func (e *callError) Error() string {
	return "proxy: invalid call: " + strings.TrimPrefix(e.inv.Error(), "invalid input: ")
}
func (e *callError) Unwrap() []error { return []error{ErrInvalidCall, e.inv} }

// NewCall checks a request and an optional webhook and returns the call:
//
//   - the method is GET, POST, PUT, PATCH or DELETE (in any case; kept in
//     upper case), and
//     a GET has no body;
//   - the URL is at most [MaxURLLength] bytes and passes the policy's
//     guard (egress.Guard.CheckURL: https, no user-info, no fragment, a
//     plain host with no percent-encoding, no IP literal of a refused
//     class) and AllowHosts; it may hold templates in its path and query
//     only — the scheme and host are literal — and they may not name a
//     card field ([IsCardField]), since URLs end up in logs;
//   - at most [MaxHeaders] headers, each a token name (RFC 9110) of at
//     most MaxHeaderNameLen bytes and a value of at most
//     MaxHeaderValueLen bytes without control characters other than tab;
//     [MaxHeaderBytes] in all; no hop-by-hop or transport header
//     (Connection, Content-Length, Host, Transfer-Encoding, ...); values
//     may be templates that name no card field, except Content-Type, which
//     is literal and given once at most;
//   - the body is a template of at most [MaxBodyTemplate] bytes escaped by
//     the Content-Type (see the package documentation); a body with
//     variables needs a Content-Type that chooses an escaping;
//   - the webhook's URL passes the guard; its secret, if any, is at most
//     MaxWebhookSecretLen bytes of visible ASCII.
//
// Templates are checked as the package documentation says (no delimiter
// changes, partials, unescaped tags, nested sections). Errors are as for
// ParseRequest.
func NewCall(req Request, hook *Webhook, p Policy) (Call, error) {
	if p.Guard == nil {
		return Call{}, errors.New("proxy: a Policy needs a Guard")
	}
	c := Call{guard: p.Guard}
	c.req = Request{Method: strings.ToUpper(req.Method), URL: req.URL, Body: req.Body, Headers: slices.Clone(req.Headers)}
	if hook != nil {
		h := *hook
		c.hook = &h
	}

	k := &callCheck{policy: p, bad: &cardvault.InvalidError{}}
	if !slices.Contains(methods, c.req.Method) {
		k.bad.Add("/request/method", "invalid value", "must be one of "+strings.Join(methods, ", "))
	}
	c.url, c.host = k.url(c.req.URL)
	var escape bodyEscaping
	c.headers, escape = k.headers(c.req.Headers)
	c.body = k.body(c.req.Body, c.req.Method, escape)
	if c.hook != nil {
		k.webhook(*c.hook)
	}

	if err := k.bad.Err(); err != nil {
		return Call{}, &callError{inv: k.bad}
	}
	if k.refused != nil {
		return Call{}, k.refused
	}
	return c, nil
}

// templates are the calls' URL and body templates, parsed: a merchant's
// integration sends the same ones on every call. They hold the templates'
// text only — a Template is rendered with each call's own item — so
// sharing one between calls and accounts shares nothing but the text
// both sent. Header values, where API keys stand, are not kept (a templated
// one is, its tags standing for the item's data); 1,024 templates and
// 4 MiB of text at most.
var templates = mustachex.NewCache(1024, 4<<20)

// callCheck gathers every fault of a call before NewCall answers, so that
// the client learns all of them at once.
type callCheck struct {
	policy  Policy
	bad     *cardvault.InvalidError
	refused error // the last destination the policy refused
}

// bodyEscaping is how the body's values are escaped, as the Content-Type
// header chooses; known is false when no header chose one.
type bodyEscaping struct {
	escape mustachex.Escape
	known  bool
}

// url checks the request's URL and returns its template and its host.
func (k *callCheck) url(u string) (*mustachex.Template, string) {
	switch {
	case u == "":
		k.bad.Add("/request/url", "required", "is required: the URL to send to, https://host/path")
		return nil, ""
	case len(u) > MaxURLLength:
		k.bad.Add("/request/url", "too long", fmt.Sprintf("at most %d bytes", MaxURLLength))
		return nil, ""
	}
	t, err := templates.Parse(u, mustachex.URL, mustachex.Limits{MaxTemplate: MaxURLLength, MaxOutput: MaxURLLength})
	if err != nil {
		k.bad.Add("/request/url", "invalid template", templateMessage(err))
		return nil, ""
	}
	if name := cardFieldIn(t); name != "" {
		k.bad.Add("/request/url", "card field", fmt.Sprintf("names the card field %q: card data may not go in a URL, which ends up in logs; put it in the body", name))
	}
	static, ok := literalSchemeAndHost(u, t)
	if !ok {
		k.bad.Add("/request/url", "invalid value", "templates may stand only in the URL's path and query; its scheme and host are literal")
		return t, ""
	}
	host, err := checkDestination(static, k.policy)
	switch {
	case errors.Is(err, cardvault.ErrForbidden):
		k.refused = fmt.Errorf("%w: /request/url: %s", ErrRefused, guardMessage(err))
	case err != nil:
		k.bad.Add("/request/url", "invalid URL", guardMessage(err))
	}
	return t, host
}

// literalSchemeAndHost returns the part of a URL template that can be
// checked before rendering: the whole URL if it is static, else its scheme
// and host, which must come whole before the first tag so that they can be
// checked now and compared after rendering.
func literalSchemeAndHost(u string, t *mustachex.Template) (string, bool) {
	if t.Static() {
		return u, true
	}
	static := u[:strings.Index(u, "{{")]
	rest, ok := strings.CutPrefix(strings.ToLower(static), "https://")
	if !ok || !strings.ContainsAny(rest, "/?") {
		return "", false
	}
	return static[:len("https://")+strings.IndexAny(rest, "/?")], true
}

// headers checks the request's headers and returns the template of each
// value (nil for a static one) and the body's escaping their Content-Type
// chooses.
func (k *callCheck) headers(hs []Header) ([]*mustachex.Template, bodyEscaping) {
	var escape bodyEscaping
	contentTypes, total := 0, 0
	ts := make([]*mustachex.Template, len(hs))
	if len(hs) > MaxHeaders {
		k.bad.Add("/request/headers", "too many headers", fmt.Sprintf("a request has at most %d headers", MaxHeaders))
	}
	for i, h := range hs {
		at := headerAt(i)
		total += len(h.Name) + len(h.Value)
		if code, msg := headerFault(h); code != "" {
			k.bad.Add(at, code, msg)
			continue
		}
		if strings.EqualFold(h.Name, "Content-Type") {
			contentTypes++
			switch {
			case contentTypes > 1:
				k.bad.Add(at, "duplicate header", "Content-Type is given once at most: it chooses the body's escaping")
			case strings.Contains(h.Value, "{{"):
				k.bad.Add(at, "invalid header value", "Content-Type is literal: it chooses the body's escaping")
			default:
				escape.escape, escape.known = bodyEscape(h.Value)
			}
			continue
		}
		ts[i] = k.headerValue(at, h.Value)
	}
	if total > MaxHeaderBytes {
		k.bad.Add("/request/headers", "too large", fmt.Sprintf("the headers are at most %d bytes in all", MaxHeaderBytes))
	}
	return ts, escape
}

// headerFault returns the code and message of what is wrong with a
// header's name or value on their own, or "" if nothing is.
func headerFault(h Header) (code, msg string) {
	switch {
	case !validToken(h.Name):
		return "invalid header name", fmt.Sprintf("a header name is 1 to %d token characters (letters, digits, !#$%%&'*+-.^_`|~)", MaxHeaderNameLen)
	case slices.Contains(forbiddenHeaders, strings.ToLower(h.Name)):
		return "forbidden header", "the transport sets this header (or it is hop-by-hop): " + strings.Join(forbiddenHeaders, ", ")
	case len(h.Value) > MaxHeaderValueLen:
		return "too long", fmt.Sprintf("a header value is at most %d bytes", MaxHeaderValueLen)
	case !validHeaderValue(h.Value):
		return "invalid header value", "a header value may not hold CR, LF, NUL or other control characters but tab"
	}
	return "", ""
}

// headerValue checks a header value other than Content-Type's and returns
// its template, or nil for a static value.
func (k *callCheck) headerValue(at, v string) *mustachex.Template {
	if !strings.Contains(v, "{{") {
		// Static: no tag, so nothing to refuse or to name (headerFault
		// checked its length), and no parse — nor a place in the cache
		// for what is often an API key.
		return nil
	}
	t, err := templates.Parse(v, mustachex.None, mustachex.Limits{MaxTemplate: MaxHeaderValueLen, MaxOutput: MaxHeaderValueLen})
	if err != nil {
		k.bad.Add(at, "invalid template", templateMessage(err))
		return nil
	}
	if name := cardFieldIn(t); name != "" {
		k.bad.Add(at, "card field", fmt.Sprintf("names the card field %q: card data may go in the body only", name))
		return nil
	}
	if t.Static() {
		return nil
	}
	return t
}

// body checks the body template of a request with the given method, its
// values escaped as the headers chose.
func (k *callCheck) body(b, method string, escape bodyEscaping) *mustachex.Template {
	switch {
	case len(b) > MaxBodyTemplate:
		k.bad.Add("/request/body", "too long", fmt.Sprintf("the body template is at most %d bytes", MaxBodyTemplate))
		return nil
	case b != "" && method == "GET":
		k.bad.Add("/request/body", "invalid value", "a GET request has no body")
		return nil
	}
	t, err := templates.Parse(b, escape.escape, mustachex.Limits{MaxTemplate: MaxBodyTemplate, MaxOutput: MaxRenderedBody})
	if err != nil {
		k.bad.Add("/request/body", "invalid template", templateMessage(err))
		return nil
	}
	if !t.Static() && !escape.known {
		k.bad.Add("/request/body", "no escaping", "a body template with variables needs a Content-Type header of application/json (or */*+json), application/x-www-form-urlencoded or text/*, which chooses how values are escaped")
		return nil
	}
	return t
}

// webhook checks where an asynchronous call's answer goes, with the
// policy's WebhookGuard if it has one.
func (k *callCheck) webhook(h Webhook) {
	if h.URL == "" {
		k.bad.Add("/webhook/url", "required", "is required: where the answer goes, https://host/path")
	} else {
		guard := k.policy.Guard
		if k.policy.WebhookGuard != nil {
			guard = k.policy.WebhookGuard
		}
		err := guard.CheckURL(h.URL)
		switch {
		case errors.Is(err, cardvault.ErrForbidden):
			k.refused = fmt.Errorf("%w: /webhook/url: %s", ErrRefused, guardMessage(err))
		case err != nil:
			k.bad.Add("/webhook/url", "invalid URL", guardMessage(err))
		}
	}
	if s := h.Secret; len(s) > MaxWebhookSecretLen || !visibleASCII(s) {
		k.bad.Add("/webhook/secret", "invalid value", fmt.Sprintf("a webhook secret is at most %d bytes of visible ASCII", MaxWebhookSecretLen))
	}
}

// checkDestination checks a literal URL (or the scheme and host of a
// templated one) against the policy and returns its host in lower case.
func checkDestination(raw string, p Policy) (string, error) {
	if err := p.Guard.CheckURL(raw); err != nil {
		return "", err
	}
	u, err := url.Parse(raw) // CheckURL parsed it
	if err != nil {
		return "", fmt.Errorf("%w: not a URL", egress.ErrInvalidURL)
	}
	host := strings.ToLower(u.Host)
	if len(p.AllowHosts) > 0 && !slices.ContainsFunc(p.AllowHosts, func(h string) bool { return strings.EqualFold(h, u.Hostname()) }) {
		return "", fmt.Errorf("%w: the host %s is not on the deployment's list of hosts a call may go to", egress.ErrRefused, strings.ToLower(u.Hostname()))
	}
	return host, nil
}

// guardMessage is an egress error without its package's prefix: it names
// the host at most, never the path or query.
func guardMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"egress: invalid URL: ", "egress: destination refused: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

func templateMessage(err error) string { return strings.TrimPrefix(err.Error(), "template: ") }

// bodyEscape returns the escaping a Content-Type chooses for the body, and
// whether it chooses one.
func bodyEscape(contentType string) (mustachex.Escape, bool) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return mustachex.None, false
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return mustachex.JSON, true
	case mt == "application/x-www-form-urlencoded":
		return mustachex.Form, true
	case strings.HasPrefix(mt, "text/"):
		return mustachex.None, true
	}
	return mustachex.None, false
}

// validToken reports whether s is an HTTP token (RFC 9110 section 5.6.2)
// of at most MaxHeaderNameLen bytes.
func validToken(s string) bool {
	if s == "" || len(s) > MaxHeaderNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s holds no control character but tab:
// no CR or LF that would end the header, no NUL.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Request returns the call's request, its templates as given (the method
// in upper case).
func (c Call) Request() Request {
	r := c.req
	r.Headers = slices.Clone(r.Headers)
	return r
}

// Webhook returns the call's webhook, and false when it has none.
func (c Call) Webhook() (Webhook, bool) {
	if c.hook == nil {
		return Webhook{}, false
	}
	return *c.hook, true
}

// names returns every key the call's templates name.
func (c Call) names() []string {
	var out []string
	for _, t := range append([]*mustachex.Template{c.url, c.body}, c.headers...) {
		if t != nil {
			out = append(out, t.Names()...)
		}
	}
	return out
}

// Host returns the host the request goes to, in lower case, with its port
// when the URL names one: what the sender logs and compares.
func (c Call) Host() string { return c.host }

// String shows the method and the host only.
func (c Call) String() string {
	if c.url == nil {
		return "proxy.Call{}"
	}
	return c.req.Method + " https://" + c.host + "/…"
}

// Format writes String for every verb, so that no verb prints a header
// value or the webhook's secret.
func (c Call) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }

// LogValue is the call in a structured log: method and host.
func (c Call) LogValue() slog.Value {
	return slog.GroupValue(slog.String("method", c.req.Method), slog.String("host", c.host))
}

// MarshalJSON returns the call's JSON in the shape ParseRequest reads,
// header values and the webhook's secret included: for keeping a call (an
// outbox job) to render and send later, never for a log.
func (c Call) MarshalJSON() ([]byte, error) {
	type webhookJSON struct {
		URL    string `json:"url"`
		Secret string `json:"secret,omitempty"`
	}
	out := struct {
		Request json.RawMessage `json:"request"`
		Webhook *webhookJSON    `json:"webhook,omitempty"`
	}{}
	req, err := requestJSON(c.req.Method, c.req.URL, c.req.Headers, c.req.Body)
	if err != nil {
		return nil, err
	}
	out.Request = req
	if c.hook != nil {
		out.Webhook = &webhookJSON{URL: c.hook.URL, Secret: c.hook.Secret}
	}
	return jsonx.Marshal(out)
}

// requestJSON writes a request with its headers as one-member objects.
func requestJSON(method, url string, headers []Header, body string) ([]byte, error) {
	hs := make([]map[string]string, len(headers))
	for i, h := range headers {
		hs[i] = map[string]string{h.Name: h.Value}
	}
	return jsonx.Marshal(struct {
		Method  string              `json:"method"`
		URL     string              `json:"url"`
		Headers []map[string]string `json:"headers"`
		Body    string              `json:"body"`
	}{method, url, hs, body})
}

// headerAt is the JSON Pointer of the request's header i, for messages.
func headerAt(i int) string { return "/request/headers/" + strconv.Itoa(i) }
