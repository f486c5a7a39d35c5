// Package redact keeps secrets out of logs: a log/slog Handler that no
// record can pass with a card number, a CVV, a passphrase, a secret, a
// password, a bearer token or an API key in it, for the reference server's
// logs and any other program's. Its scan for card numbers is
// luhn.CardNumberRuns, the one the audit trail and the proxy's masking use.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/luhn"
)

// redacted replaces whatever the redacting handler removes.
const redacted = "[REDACTED]"

// NewHandler wraps next so that no record reaching it can carry a
// card number, CVV, passphrase, secret, password, bearer token or API key:
//
//   - an attribute whose key names a secret (passphrase, password, secret,
//     token, authorization, api key, cvv, card or account number, ...) has
//     its value replaced, at any depth of groups;
//   - every string — the message, string attributes, errors and anything
//     else printed — is scrubbed of any run of 12 to 19 digits (spaces or
//     dashes between them allowed) that passes the Luhn check, of digit
//     runs longer than 19, of the values of "name=value" pairs, JSON
//     members and X-... headers whose name is one of the above, of
//     Authorization and Cookie header values, of the credentials of
//     "Bearer"/"Basic" authorization values, and of any run of 40 or more
//     URL-safe characters (capture secrets, access tokens, API keys,
//     single-use tokens);
//   - integers of 12 to 19 digits that pass Luhn are replaced too.
//
// The reference server logs through it whatever Logger it is given; a
// program's other logs (http.Server's ErrorLog, say) should too. Wrapping a
// redacting handler again returns it as it is.
func NewHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(*redactingHandler); ok {
		return h
	}
	return &redactingHandler{next: next}
}

type redactingHandler struct{ next slog.Handler }

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, redactString(r.Message), r.PC)
	// One AddAttrs for all of them: the record grows its slice once.
	var buf [16]slog.Attr
	attrs := buf[:0]
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, redactAttr(a))
		return true
	})
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(clean)}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(redactString(name))}
}

// sensitiveKeyParts are substrings of attribute keys whose values are never
// logged, whatever they hold. Keys are compared in lower case with '-' and
// ' ' read as '_'.
var sensitiveKeyParts = []string{
	"passphrase", "password", "passwd", "secret", "token", "authorization", "auth_header",
	"api_key", "apikey", "cvv", "cvc", "card_number", "cardnumber", "account_number",
	"accountnumber", "track", "pin_block", "cookie",
}

// sensitiveKeyWords are words (between '_') of attribute keys whose values
// are never logged: too short to look for as substrings ("panic" is fine).
var sensitiveKeyWords = []string{"pan", "pin", "cvv2"}

var keySeparators = strings.NewReplacer("-", "_", " ", "_")

// knownKeys remembers what redactAttr needs of a key — sensitiveKey's
// answer and the key scrubbed as a string — since every access-log line has
// the same dozen keys. It holds at most maxKnownKeys of them, since keys
// may come from anywhere, and only keys that scrubbing leaves as they are:
// a key that held something to remove is worked out again each time
// rather than kept.
var knownKeys = struct {
	sync.RWMutex
	m map[string]bool
}{m: map[string]bool{}}

const maxKnownKeys = 1024

// keyInfo returns whether key is sensitive and key as redactString
// returns it.
func keyInfo(key string) (sensitive bool, clean string) {
	knownKeys.RLock()
	v, ok := knownKeys.m[key]
	knownKeys.RUnlock()
	if ok {
		return v, key
	}
	v, clean = isSensitiveKey(key), redactString(key)
	if clean != key {
		return v, clean
	}
	knownKeys.Lock()
	if len(knownKeys.m) < maxKnownKeys {
		knownKeys.m[key] = v
	}
	knownKeys.Unlock()
	return v, key
}

func sensitiveKey(key string) bool {
	v, _ := keyInfo(key)
	return v
}

func isSensitiveKey(key string) bool {
	k := keySeparators.Replace(strings.ToLower(key))
	for _, p := range sensitiveKeyParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	for _, w := range strings.Split(k, "_") {
		if slices.Contains(sensitiveKeyWords, w) {
			return true
		}
	}
	return false
}

func redactAttr(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	sensitive, clean := keyInfo(a.Key)
	if sensitive && a.Value.Kind() != slog.KindGroup {
		return slog.String(clean, redacted) // the key scrubbed too
	}
	a.Key = clean
	switch a.Value.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(redactString(a.Value.String()))
	case slog.KindInt64:
		if luhn.IsCardNumber(strconv.FormatInt(a.Value.Int64(), 10)) {
			a.Value = slog.StringValue(redacted)
		}
	case slog.KindUint64:
		if luhn.IsCardNumber(strconv.FormatUint(a.Value.Uint64(), 10)) {
			a.Value = slog.StringValue(redacted)
		}
	case slog.KindGroup:
		group := a.Value.Group()
		clean := make([]slog.Attr, len(group))
		for i, g := range group {
			clean[i] = redactAttr(g)
		}
		a.Value = slog.GroupValue(clean...)
	case slog.KindAny:
		a.Value = slog.StringValue(redactAny(a.Value.Any()))
	}
	return a
}

// redactAny prints v and scrubs the result. Headers and query values are
// printed with the values of sensitive names removed first.
func redactAny(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case error:
		return redactString(x.Error())
	case http.Header:
		return redactString(redactValues(x))
	case url.Values:
		return redactString(redactValues(x))
	case []byte:
		return redactString(string(x))
	case fmt.Stringer:
		return redactString(x.String())
	}
	return redactString(fmt.Sprintf("%+v", v))
}

func redactValues(m map[string][]string) string {
	clean := make(map[string][]string, len(m))
	for k, vs := range m {
		if sensitiveKey(k) {
			clean[k] = []string{redacted}
		} else {
			clean[k] = vs
		}
	}
	return fmt.Sprint(clean)
}

// secretNames is the alternation of the names whose values the
// string scrubbing removes, wherever a name-value pair shows them.
const secretNames = `passphrase|password|secret|token|api[_-]?key|authorization|cookie|cvv|cvc|card_?number|account_?number|number`

var (
	// name=value, as in a query string or a logfmt line.
	queryPair = regexp.MustCompile(`(?i)([A-Za-z0-9_-]*(?:` + secretNames + `)[A-Za-z0-9_-]*=)([^\s&"',;}]*)`)
	// "name": "value" and "name": 123, as in JSON.
	jsonPair = regexp.MustCompile(`(?i)("[A-Za-z0-9_ -]*(?:` + secretNames + `)[A-Za-z0-9_ -]*"\s*:\s*)("(?:[^"\\]|\\.)*"|[0-9.eE+-]+)`)
	// Name: value, as in an HTTP header: x-... names, Authorization,
	// Cookie (a "passphrase: unauthorized" in an error message stays).
	headerPair = regexp.MustCompile(`(?i)\b((?:x-[A-Za-z0-9-]*(?:` + secretNames + `)[A-Za-z0-9-]*|(?:proxy-)?authorization|(?:set-)?cookie)\s*:\s*)(\S+)`)
	// The credentials of an Authorization value.
	authScheme = regexp.MustCompile(`(?i)\b((?:(?:bearer|basic)\s+)+)[A-Za-z0-9._~+/=-]+`)
	// Long runs of URL-safe characters: secrets, tokens, keys.
	longRun = regexp.MustCompile(`[A-Za-z0-9_-]{40,}`)
)

// secretNameWords are words one of which every match of secretNames
// contains ("api" for api[_-]?key; "number" for the card and account
// numbers).
var secretNameWords = []string{"passphrase", "password", "secret", "token", "api", "authorization", "cookie", "cvv", "cvc", "number"}

// redactString scrubs s of what NewHandler promises to remove.
//
// It runs on every string of every log line — an access log line per
// request — so each pattern runs only when s holds what every one of its
// matches must hold: a secret's name and the pattern's punctuation, a
// "bearer" or "basic", a run of 40 URL-safe characters. Most strings (a
// method, a route, a path, an address) hold none, and cost a few scans
// instead of five regular expressions. A replacement never adds a name or
// punctuation that a later pattern needs, so the checks are made once, on s
// as given.
// String returns s with what NewHandler would remove from a log line
// removed.
func String(s string) string { return redactString(s) }

func redactString(s string) string {
	if s == "" {
		return s
	}
	// The checks hold for ASCII only: (?i) folds some other letters to
	// ASCII ones ("ſ" to "s", the Kelvin sign to "k"), so a string with any
	// other byte runs every pattern.
	all := !isASCII(s)
	lower := strings.ToLower(s)
	if all || strings.Contains(lower, "bearer") || strings.Contains(lower, "basic") {
		s = authScheme.ReplaceAllString(s, "${1}"+redacted)
	}
	if all || containsAny(lower, secretNameWords) {
		colon := all || strings.IndexByte(s, ':') >= 0
		if colon && (all || strings.IndexByte(s, '"') >= 0) {
			s = jsonPair.ReplaceAllString(s, `${1}"`+redacted+`"`)
		}
		if all || strings.IndexByte(s, '=') >= 0 {
			s = queryPair.ReplaceAllString(s, "${1}"+redacted)
		}
		if colon {
			s = headerPair.ReplaceAllString(s, "${1}"+redacted)
		}
	}
	if hasLongRun(s) {
		s = longRun.ReplaceAllString(s, redacted)
	}
	return redactDigits(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// hasLongRun reports whether s has a run of 40 or more of longRun's
// characters.
func hasLongRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' {
			if n++; n >= 40 {
				return true
			}
			continue
		}
		n = 0
	}
	return false
}

// redactDigits replaces every run of digits that may hold a card number
// (see luhn.CardNumberRuns: 12 to 19 digits passing the Luhn check, single
// spaces or dashes between digits included, or more than 19 digits).
func redactDigits(s string) string {
	if !luhn.HasDigits(s, luhn.MinLength) {
		return s // most strings: no scan, no iterator to allocate
	}
	return mask.Replace(s, luhn.CardNumberRuns(s), func(string) string { return redacted })
}
