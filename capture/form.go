package capture

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture/formpage"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
)

// FormType is the kind of a hosted form, the form_type of the create-form
// request.
type FormType string

const (
	// FormCard ("pcd") captures a payment card: card_number, card_holder,
	// expiry and cvv visible by default, reference hidden by default.
	FormCard FormType = "pcd"
	// FormBank ("ach") captures a US bank account: account_holder,
	// routing_number, account_number and account_type visible by default,
	// reference hidden by default.
	FormBank FormType = "ach"
	// FormCustom ("custom") has every field of the other two types, all
	// hidden by default: it shows exactly the fields its field_options make
	// visible, at least one. Card and bank fields may be mixed.
	FormCustom FormType = "custom"
)

// Limits of a create-form request.
const (
	// MaxFormRequest is the largest create-form body accepted, in bytes.
	MaxFormRequest = 64 << 10
	// MaxCallback is the largest decoded success or error callback, in
	// bytes.
	MaxCallback = 16 << 10
	// MaxCSS is the largest decoded embedded CSS, in bytes.
	MaxCSS = 16 << 10
	// MaxFrameAncestors is the most frame ancestors a form may list.
	MaxFrameAncestors = 16
	// maxFormDepth: body object, field_options, one field's options.
	maxFormDepth = 3
)

// Errors of ParseForm and of decoding a stored Form. An invalid request is
// also a *[cardvault.InvalidError] that lists every bad field.
var (
	ErrInvalidForm  = fmt.Errorf("capture: invalid form: %w", cardvault.ErrInvalid)
	ErrFormTooLarge = fmt.Errorf("capture: form request over %d bytes: %w", MaxFormRequest, cardvault.ErrTooLarge)
)

// defaultFrameAncestors are the frame ancestors of a form that names none:
// its own origin and any HTTPS page. A merchant embeds the form in an
// iframe on its own site, and a client written for the hosted vault's API
// configures nothing for that, so the default must allow it; the form
// posts only to a grant whose secret the embedding page already holds, so
// letting any HTTPS page frame it gives a clickjacking page nothing it did
// not have. A merchant who wants more lists its origins in frame_ancestors.
var defaultFrameAncestors = []string{"'self'", "https:"}

// FieldOption is how a form shows one field.
type FieldOption struct {
	// Name is the field's key in the posted JSON (card_number, cvv, ...).
	Name string
	// Visible puts the field on the page.
	Visible bool
	// Validate turns on the field's checks in the browser (the default).
	Validate bool
}

// Form is a hosted form's configuration. It is created by [ParseForm] and
// kept in the store as JSON ([Form.MarshalJSON], [Form.UnmarshalJSON]).
type Form struct {
	// ID names the form in its link (/v1/capture/iframe/<ID>): 22
	// characters from [NewFormID].
	ID   string
	Type FormType
	// Fields holds every field of the form's type, visible or not, in page
	// order.
	Fields []FieldOption
	// SuccessCallback and ErrorCallback are the decoded JavaScript of the
	// callbacks (function expressions), empty for none. They never reach
	// the card page: they run on the form's result page, in a Worker with
	// no DOM, after the card page removed its fields (see ServePage and
	// package formpage).
	SuccessCallback, ErrorCallback string
	// CSS is the decoded embedded CSS, empty for none.
	CSS string
	// FrameAncestors lists the origins that may embed the form in a frame.
	// Nil means the default, 'self' https: — the form's own origin and
	// any HTTPS page (see ParseForm for why).
	FrameAncestors []string
	CreatedAt      time.Time
}

// fieldDefault is one field of a form type and whether it shows by default.
type fieldDefault struct {
	name    string
	visible bool
}

var (
	cardFields = []fieldDefault{{"card_number", true}, {"card_holder", true}, {"expiry", true}, {"cvv", true}}
	bankFields = []fieldDefault{{"account_holder", true}, {"routing_number", true}, {"account_number", true}, {"account_type", true}}
	reference  = fieldDefault{"reference", false}

	formFields = map[FormType][]fieldDefault{
		FormCard:   append(slices.Clip(cardFields), reference),
		FormBank:   append(slices.Clip(bankFields), reference),
		FormCustom: append(append(hidden(cardFields), hidden(bankFields)...), reference),
	}
)

func hidden(fields []fieldDefault) []fieldDefault {
	out := make([]fieldDefault, len(fields))
	for i, f := range fields {
		out[i] = fieldDefault{f.name, false}
	}
	return out
}

// defaultFields returns the fields of a form type with their default
// options, or nil for an unknown type.
func defaultFields(t FormType) []FieldOption {
	defs := formFields[t]
	if defs == nil {
		return nil
	}
	out := make([]FieldOption, len(defs))
	for i, d := range defs {
		out[i] = FieldOption{Name: d.name, Visible: d.visible, Validate: true}
	}
	return out
}

// VisibleFields returns the names of the fields the page shows, in page
// order: the keys a post from the page can carry, and so the field
// allow-list of a grant made for this form.
func (f *Form) VisibleFields() []string {
	var names []string
	for _, o := range f.Fields {
		if o.Visible {
			names = append(names, o.Name)
		}
	}
	return names
}

// frameAncestors returns the form's frame ancestors, or the default.
func (f *Form) frameAncestors() []string {
	if len(f.FrameAncestors) == 0 {
		return defaultFrameAncestors
	}
	return f.FrameAncestors
}

// ParseForm checks a create-form request — the form_type query parameter
// and the JSON body — and returns a new Form with a fresh ID, created at
// now. The body may be empty (the type's defaults) or an object with these
// members, each optional:
//
//	{
//	  "field_options":    {"<field>": {"visible": bool, "validate": bool}},
//	  "success_callback": "<base64 of a JavaScript function expression>",
//	  "error_callback":   "<base64 of a JavaScript function expression>",
//	  "embedded_css":     "<base64 of CSS>",
//	  "frame_ancestors":  ["https://shop.example", "http://localhost:3000", "'self'"]
//	}
//
// Base64 is the standard alphabet, with or without padding, of UTF-8 text.
// A callback is checked only for being text ([formpage.CheckCallback]): it
// is never spliced into a script, but kept as data and run in a Worker
// after a submission, so its content is no security boundary. The CSS may
// not contain "</style" ([formpage.CheckCSS]). A frame ancestor is an origin —
// https://host[:port], or http:// for localhost and 127.0.0.0/8 only, with
// no path — or 'self', or 'none' alone. Unknown members are refused rather
// than ignored: a mistyped "field_option" would otherwise show every field.
//
// Without frame_ancestors, the form's own origin and any HTTPS page may
// embed it ('self' https:). That is what a client written for the hosted
// vault's API expects — it embeds the form in an iframe on its own site and
// configures nothing for that — and it gives a framing page nothing: the
// form posts only to the grant whose secret the framing page put in the
// link. A merchant who wants the form framed only by its own pages lists
// its origins.
//
// A body over [MaxFormRequest] returns [ErrFormTooLarge]. Anything else
// wrong returns an error that wraps [ErrInvalidForm] and is a
// *[cardvault.InvalidError] listing every bad field.
func ParseForm(formType string, body []byte, now time.Time) (Form, error) {
	if len(body) > MaxFormRequest {
		return Form{}, ErrFormTooLarge
	}
	var bad cardvault.InvalidError
	f := Form{Type: FormType(formType), Fields: defaultFields(FormType(formType))}
	if f.Fields == nil {
		bad.Add("form_type", "invalid value", `must be "pcd", "ach" or "custom"`)
	}
	if len(body) > 0 {
		parseFormBody(&f, body, &bad)
	}
	if f.Fields != nil && len(f.VisibleFields()) == 0 {
		bad.Add("/field_options", "no visible field", "a form must show at least one field")
	}
	if err := bad.Err(); err != nil {
		return Form{}, &formError{inv: &bad}
	}
	f.ID = NewFormID()
	f.CreatedAt = now.UTC()
	return f, nil
}

// formError is an invalid form: errors.Is finds ErrInvalidForm and
// cardvault.ErrInvalid, errors.As the InvalidError.
type formError struct{ inv *cardvault.InvalidError }

func (e *formError) Error() string {
	return "capture: invalid form: " + strings.TrimPrefix(e.inv.Error(), "invalid input: ")
}
func (e *formError) Unwrap() []error { return []error{ErrInvalidForm, e.inv} }

func parseFormBody(f *Form, body []byte, bad *cardvault.InvalidError) {
	if err := jsonx.Check(body, jsonx.Limits{MaxBytes: MaxFormRequest, MaxDepth: maxFormDepth}); err != nil {
		field := "body"
		var je *jsonx.Error
		if errors.As(err, &je) && je.Path != "" {
			field = je.Path
		}
		bad.Add(field, "invalid JSON", err.Error())
		return
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		bad.Add("body", "invalid value", "must be a JSON object")
		return
	}
	for _, key := range sortedKeys(members) {
		raw := members[key]
		ptr := "/" + escapePointer(key)
		switch key {
		case "field_options":
			parseFieldOptions(f, raw, bad)
		case "success_callback":
			f.SuccessCallback = parseBase64Text(raw, ptr, MaxCallback, formpage.CheckCallback, bad)
		case "error_callback":
			f.ErrorCallback = parseBase64Text(raw, ptr, MaxCallback, formpage.CheckCallback, bad)
		case "embedded_css":
			f.CSS = parseBase64Text(raw, ptr, MaxCSS, formpage.CheckCSS, bad)
		case "frame_ancestors":
			f.FrameAncestors = parseFrameAncestors(raw, bad)
		default:
			bad.Add(ptr, "unknown member", "not a member of a form request: field_options, success_callback, "+
				"error_callback, embedded_css, frame_ancestors")
		}
	}
}

func parseFieldOptions(f *Form, raw json.RawMessage, bad *cardvault.InvalidError) {
	if isNull(raw) {
		return
	}
	var opts map[string]json.RawMessage
	if err := json.Unmarshal(raw, &opts); err != nil {
		bad.Add("/field_options", "invalid value", "must be an object of field names to options")
		return
	}
	for _, name := range sortedKeys(opts) {
		ptr := "/field_options/" + escapePointer(name)
		i := -1
		if f.Fields != nil {
			i = slices.IndexFunc(f.Fields, func(o FieldOption) bool { return o.Name == name })
			if i < 0 {
				bad.Add(ptr, "unknown field", "not a field of a "+string(f.Type)+" form: "+strings.Join(fieldNames(f.Type), ", "))
				continue
			}
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(opts[name], &members); err != nil {
			bad.Add(ptr, "invalid value", `must be an object {"visible": bool, "validate": bool}`)
			continue
		}
		for _, k := range sortedKeys(members) {
			var v bool
			if k != "visible" && k != "validate" {
				bad.Add(ptr+"/"+escapePointer(k), "unknown member", `a field option is "visible" or "validate"`)
				continue
			}
			if err := json.Unmarshal(members[k], &v); err != nil || isNull(members[k]) {
				bad.Add(ptr+"/"+k, "invalid value", "must be true or false")
				continue
			}
			if i < 0 {
				continue // unknown form type: check the shape only
			}
			if k == "visible" {
				f.Fields[i].Visible = v
			} else {
				f.Fields[i].Validate = v
			}
		}
	}
}

func fieldNames(t FormType) []string {
	var names []string
	for _, d := range formFields[t] {
		names = append(names, d.name)
	}
	return names
}

// parseBase64Text decodes a base64 member into UTF-8 text of at most max
// bytes that check accepts. A null or empty member is no text.
func parseBase64Text(raw json.RawMessage, ptr string, max int, check func(string) error, bad *cardvault.InvalidError) string {
	if isNull(raw) {
		return ""
	}
	var enc string
	if err := json.Unmarshal(raw, &enc); err != nil {
		bad.Add(ptr, "invalid value", "must be a base64 string")
		return ""
	}
	if enc == "" {
		return ""
	}
	if base64.StdEncoding.DecodedLen(len(enc)) > max+3 {
		bad.Add(ptr, "too long", fmt.Sprintf("at most %d bytes once decoded", max))
		return ""
	}
	dec, err := decodeBase64(enc)
	if err != nil {
		bad.Add(ptr, "invalid base64", "must be standard base64 (with or without padding)")
		return ""
	}
	if len(dec) > max {
		bad.Add(ptr, "too long", fmt.Sprintf("at most %d bytes once decoded", max))
		return ""
	}
	text := string(dec)
	if err := check(text); err != nil {
		bad.Add(ptr, "invalid value", "the decoded text "+err.Error())
		return ""
	}
	return text
}

// decodeBase64 accepts the standard alphabet with or without padding, and
// refuses non-zero trailing bits, so that one text has one encoding.
func decodeBase64(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.Strict().DecodeString(s)
	}
	return base64.RawStdEncoding.Strict().DecodeString(s)
}

func parseFrameAncestors(raw json.RawMessage, bad *cardvault.InvalidError) []string {
	if isNull(raw) {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		bad.Add("/frame_ancestors", "invalid value", "must be an array of origins")
		return nil
	}
	if len(list) == 0 {
		bad.Add("/frame_ancestors", "invalid value", "list at least one origin, or leave frame_ancestors out for the default")
		return nil
	}
	if len(list) > MaxFrameAncestors {
		bad.Add("/frame_ancestors", "too long", fmt.Sprintf("at most %d origins", MaxFrameAncestors))
		return nil
	}
	var out []string
	for i, r := range list {
		ptr := "/frame_ancestors/" + strconv.Itoa(i)
		var s string
		if err := json.Unmarshal(r, &s); err != nil {
			bad.Add(ptr, "invalid value", "must be a string")
			continue
		}
		src, msg := frameAncestor(s)
		if msg != "" {
			bad.Add(ptr, "invalid origin", msg)
			continue
		}
		if !slices.Contains(out, src) {
			out = append(out, src)
		}
	}
	if slices.Contains(out, "'none'") && len(out) > 1 {
		bad.Add("/frame_ancestors", "invalid value", "'none' must be the only entry")
	}
	return out
}

// frameAncestor checks one frame ancestor and returns it in canonical form
// (lower case, default port dropped), or a message saying what is wrong.
func frameAncestor(s string) (string, string) {
	const want = "must be an origin such as https://shop.example or http://localhost:3000 (no path), or 'self' or 'none'"
	switch s {
	case "'self'", "'none'":
		return s, ""
	}
	if len(s) > 300 {
		return "", "too long: " + want
	}
	scheme, hostport, ok := strings.Cut(strings.ToLower(s), "://")
	if !ok || (scheme != "https" && scheme != "http") {
		return "", want
	}
	if strings.ContainsAny(hostport, "/?#@\\") {
		return "", "has a path, query, fragment or user: " + want
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		host, port = hostport[:i], hostport[i+1:]
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' {
			return "", "has a bad port: " + want
		}
	}
	ip := net.ParseIP(host)
	switch {
	case ip != nil && ip.To4() == nil:
		return "", "IPv6 addresses cannot be CSP sources: " + want
	case ip == nil && !egress.ValidHostname(host):
		return "", "has a bad host name: " + want
	}
	if scheme == "http" && !(host == "localhost" || strings.HasSuffix(host, ".localhost") || ip != nil && ip.IsLoopback()) {
		return "", "http is allowed for localhost only: " + want
	}
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, ""
	}
	return scheme + "://" + host, ""
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// escapePointer escapes a key as a JSON Pointer reference token (RFC 6901),
// and replaces what a log should not show raw (control characters, invalid
// UTF-8) since keys come from the request.
func escapePointer(key string) string {
	key = strings.ToValidUTF8(key, "\uFFFD")
	key = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '\uFFFD'
		}
		return r
	}, key)
	if r := []rune(key); len(r) > 64 {
		key = string(r[:64]) + "…"
	}
	return patch.EscapeToken(key)
}

// formIDAlphabet is base58: no 0, O, I or l, so an id read aloud or copied
// by hand survives. 22 characters carry 128.9 bits.
const (
	formIDAlphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	formIDLength   = 22
)

// NewFormID returns a random form id: 22 base58 characters (more than 128
// bits) from crypto/rand, like the seed's "MmRMVP4UjYD8g5kVUcmx4Z".
func NewFormID() string {
	id := make([]byte, 0, formIDLength)
	var buf [32]byte
	for len(id) < formIDLength {
		_, _ = rand.Read(buf[:]) // never fails (crypto/rand since Go 1.24)
		for _, b := range buf {
			// 232 = 4 × 58: rejecting 232..255 keeps every character
			// equally likely.
			if b < 232 && len(id) < formIDLength {
				id = append(id, formIDAlphabet[b%58])
			}
		}
	}
	return string(id)
}

// ValidFormID reports whether id has the shape of a [NewFormID] id, so a
// server can refuse a malformed link before it looks anything up.
func ValidFormID(id string) bool {
	if len(id) != formIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		if strings.IndexByte(formIDAlphabet, id[i]) < 0 {
			return false
		}
	}
	return true
}

// formRecord is a Form as the store keeps it. The callbacks and CSS are kept
// decoded; none of it is secret.
type formRecord struct {
	Version         int                          `json:"v"`
	ID              string                       `json:"id"`
	Type            FormType                     `json:"type"`
	Fields          map[string]formRecordOptions `json:"fields"`
	SuccessCallback string                       `json:"success_callback,omitempty"`
	ErrorCallback   string                       `json:"error_callback,omitempty"`
	CSS             string                       `json:"css,omitempty"`
	FrameAncestors  []string                     `json:"frame_ancestors,omitempty"`
	CreatedAt       time.Time                    `json:"created_at"`
}

type formRecordOptions struct {
	Visible  bool `json:"visible"`
	Validate bool `json:"validate"`
}

const formRecordVersion = 1

// MarshalJSON encodes the form for the store.
func (f Form) MarshalJSON() ([]byte, error) {
	r := formRecord{
		Version: formRecordVersion, ID: f.ID, Type: f.Type,
		Fields:          make(map[string]formRecordOptions, len(f.Fields)),
		SuccessCallback: f.SuccessCallback, ErrorCallback: f.ErrorCallback, CSS: f.CSS,
		FrameAncestors: f.FrameAncestors, CreatedAt: f.CreatedAt,
	}
	for _, o := range f.Fields {
		r.Fields[o.Name] = formRecordOptions{Visible: o.Visible, Validate: o.Validate}
	}
	return json.Marshal(r)
}

// UnmarshalJSON decodes a form the store kept, and checks it as strictly
// as ParseForm checks a request, so a damaged record cannot reach the page.
// Errors wrap [ErrInvalidForm].
func (f *Form) UnmarshalJSON(data []byte) error {
	// Callbacks and CSS are stored decoded, so a record is at most about as
	// large as a request.
	if err := jsonx.Check(data, jsonx.Limits{MaxBytes: 2 * MaxFormRequest, MaxDepth: maxFormDepth}); err != nil {
		return fmt.Errorf("%w: stored form: %w", ErrInvalidForm, err)
	}
	var r formRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("%w: stored form: %w", ErrInvalidForm, err)
	}
	var bad cardvault.InvalidError
	if r.Version != formRecordVersion {
		bad.Add("/v", "unsupported version", fmt.Sprintf("this version of cardvault reads form records of version %d", formRecordVersion))
	}
	if !ValidFormID(r.ID) {
		bad.Add("/id", "invalid value", "must be a form id")
	}
	fields := defaultFields(r.Type)
	if fields == nil {
		bad.Add("/type", "invalid value", `must be "pcd", "ach" or "custom"`)
	}
	for name, o := range r.Fields {
		i := slices.IndexFunc(fields, func(d FieldOption) bool { return d.Name == name })
		if i < 0 {
			if fields != nil {
				bad.Add("/fields/"+escapePointer(name), "unknown field", "not a field of a "+string(r.Type)+" form")
			}
			continue
		}
		fields[i].Visible, fields[i].Validate = o.Visible, o.Validate
	}
	if fields != nil && len(r.Fields) != len(fields) {
		bad.Add("/fields", "invalid value", "must hold every field of the form's type")
	}
	for _, c := range []struct {
		ptr, text string
		max       int
		check     func(string) error
	}{
		{"/success_callback", r.SuccessCallback, MaxCallback, formpage.CheckCallback},
		{"/error_callback", r.ErrorCallback, MaxCallback, formpage.CheckCallback},
		{"/css", r.CSS, MaxCSS, formpage.CheckCSS},
	} {
		if c.text == "" {
			continue
		}
		if len(c.text) > c.max {
			bad.Add(c.ptr, "too long", fmt.Sprintf("at most %d bytes", c.max))
		} else if err := c.check(c.text); err != nil {
			bad.Add(c.ptr, "invalid value", "the text "+err.Error())
		}
	}
	if r.FrameAncestors != nil {
		raw, _ := json.Marshal(r.FrameAncestors)
		r.FrameAncestors = parseFrameAncestors(raw, &bad)
	}
	if err := bad.Err(); err != nil {
		return &formError{inv: &bad}
	}
	*f = Form{
		ID: r.ID, Type: r.Type, Fields: fields,
		SuccessCallback: r.SuccessCallback, ErrorCallback: r.ErrorCallback, CSS: r.CSS,
		FrameAncestors: r.FrameAncestors, CreatedAt: r.CreatedAt,
	}
	return nil
}

var (
	_ json.Marshaler   = Form{}
	_ json.Unmarshaler = (*Form)(nil)
)

// DefaultCapturePath is the path under which a server serves capture
// endpoints, as in the hosted vault's API: the page posts to
// DefaultCapturePath + the grant id.
const DefaultCapturePath = "/v1/capture/"

// formSegment is the path segment under DefaultCapturePath of the hosted
// form routes (/v1/capture/iframe/<id>): a grant of that id could never
// be posted to, so no grant takes it.
const formSegment = "iframe"

// maxGrantIDInLink bounds the unique_id a page accepts from its link.
const maxGrantIDInLink = 256

// Notices a page shows instead of its fields.
const (
	noticeExpired    = "This form has expired. Ask for a new link."
	noticeIncomplete = "This form link is incomplete: it needs a unique_id and a secret."
)

// PageOptions is what a server knows about the grant when it serves a
// form's page.
type PageOptions struct {
	// CapturePath is where the server serves capture endpoints, on the
	// page's own origin; empty means DefaultCapturePath.
	CapturePath string
	// GrantExpiresAt is when the grant of the link's unique_id expires, if
	// the server knows; zero when it does not or the grant never expires.
	GrantExpiresAt time.Time
	// GrantClosed says the grant takes no more captures — deleted, used
	// up, locked, or unknown. The page then shows that the form has expired
	// (for an unknown grant too, so the page tells nobody which ids exist).
	GrantClosed bool
	// Now is the time GrantExpiresAt is compared with; zero means
	// time.Now().
	Now time.Time
}

// The query of a form's result page: the card page hands over to
// <link>?view=result, given as "?view=result", a reference relative to the
// card page's own URL, so that it keeps whatever path prefix the browser
// sees.
const (
	resultViewParam = "view"
	resultViewValue = "result"
	resultURL       = "?" + resultViewParam + "=" + resultViewValue
)

// ServePage answers a request for the form's pages on its link:
//
//   - GET <link>?unique_id=<grant id>&secret=<grant secret>[&reference=...],
//     the card page, with the policy of [formpage.Page.SetHeaders] (a
//     fresh nonce, no 'unsafe-inline' or 'unsafe-eval', the form's frame
//     ancestors), Referrer-Policy no-referrer, Cache-Control no-store,
//     nosniff. It writes 200 and the form, posting to CapturePath +
//     unique_id; 410 and "This form has expired" with no fields, when the
//     grant is closed or past GrantExpiresAt; 400 and a notice with no
//     fields, when unique_id or secret is missing.
//   - GET <link>?view=result, the result page, where the card page hands
//     a reply over to the form's callbacks once its fields are gone (see
//     package [formpage]): 200, with the policy of
//     [formpage.ResultPage.SetHeaders] (sandbox allow-scripts, no
//     connection, 'unsafe-eval' for the callback's worker). It needs no
//     grant and takes no secret, and opt is not used.
//   - 405 for a method other than GET or HEAD.
//
// The secret is read by the card page's script from its own URL; ServePage
// never writes it into the HTML, and it never reaches the result page. The
// card page holds no callback code, only whether there is one. The server
// loads the form (and, to fill opt, the grant) before it calls ServePage;
// it answers an unknown form id itself. A server routes both pages to
// ServePage — GET <link> — and needs no route of its own for the result
// page.
func (f *Form) ServePage(w http.ResponseWriter, r *http.Request, opt PageOptions) {
	h := w.Header()
	// Even an error reply is for a URL that holds the secret.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if q.Get(resultViewParam) == resultViewValue {
		f.serveResult(w, r)
		return
	}
	grantID, secret := q.Get("unique_id"), q.Get("secret")
	if opt.CapturePath == "" {
		opt.CapturePath = DefaultCapturePath
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if err := f.checkCallbacks(); err != nil {
		// The result page would refuse them: better no card page than a
		// visitor who types a card for nothing.
		http.Error(w, "capture: the form page could not be rendered", http.StatusInternalServerError)
		return
	}
	page := formpage.Page{
		Nonce:              formpage.NewNonce(),
		Type:               string(f.Type),
		CaptureURL:         opt.CapturePath + url.PathEscape(grantID),
		ResultURL:          resultURL,
		HasSuccessCallback: f.SuccessCallback != "",
		HasErrorCallback:   f.ErrorCallback != "",
		CSS:                f.CSS,
		FrameAncestors:     f.frameAncestors(),
	}
	for _, o := range f.Fields {
		if o.Visible {
			page.Fields = append(page.Fields, formpage.Field{Name: o.Name, Validate: o.Validate})
		}
	}
	status := http.StatusOK
	switch {
	case grantID == "" || secret == "" || len(grantID) > maxGrantIDInLink:
		status, page.Notice = http.StatusBadRequest, noticeIncomplete
	case opt.GrantClosed || !opt.GrantExpiresAt.IsZero() && !opt.Now.Before(opt.GrantExpiresAt):
		status, page.Notice = http.StatusGone, noticeExpired
	}
	var body bytes.Buffer
	if err := formpage.Render(&body, &page); err != nil {
		http.Error(w, "capture: the form page could not be rendered", http.StatusInternalServerError)
		return
	}
	if err := page.SetHeaders(h); err != nil {
		http.Error(w, "capture: the form page could not be rendered", http.StatusInternalServerError)
		return
	}
	writePage(w, r, status, &body)
}

// checkCallbacks checks the callbacks as the result page will; only a Form
// built by hand can fail, since ParseForm and UnmarshalJSON check them.
func (f *Form) checkCallbacks() error {
	for _, js := range []string{f.SuccessCallback, f.ErrorCallback} {
		if js != "" {
			if err := formpage.CheckCallback(js); err != nil {
				return err
			}
		}
	}
	return nil
}

// serveResult writes the form's result page.
func (f *Form) serveResult(w http.ResponseWriter, r *http.Request) {
	page := formpage.ResultPage{
		Nonce:           formpage.NewNonce(),
		Type:            string(f.Type),
		SuccessCallback: f.SuccessCallback,
		ErrorCallback:   f.ErrorCallback,
		CSS:             f.CSS,
		FrameAncestors:  f.frameAncestors(),
	}
	var body bytes.Buffer
	if err := formpage.RenderResult(&body, &page); err != nil {
		http.Error(w, "capture: the form page could not be rendered", http.StatusInternalServerError)
		return
	}
	if err := page.SetHeaders(w.Header()); err != nil {
		http.Error(w, "capture: the form page could not be rendered", http.StatusInternalServerError)
		return
	}
	writePage(w, r, http.StatusOK, &body)
}

func writePage(w http.ResponseWriter, r *http.Request, status int, body *bytes.Buffer) {
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body.Bytes())
	}
}
