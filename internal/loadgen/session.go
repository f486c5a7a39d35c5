package loadgen

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"time"

	"github.com/cardvault/cardvault/internal/uuid"
	"github.com/cardvault/cardvault/luhn"
)

// session is one simulated client: a merchant's integration that saves
// cards in the vault, updates them through capture endpoints, and keeps
// secure tokens.
type session struct {
	*client
	cfg    *Config
	id     int
	n      int // requests sent: picks the target
	seq    int // iterations: names what this session creates
	bearer string
	ledger *Ledger
	carry  string // a single-use token made in the last iteration, not used yet
	// badCapture says whether this iteration may post to an unknown
	// capture endpoint (see BadCaptureEvery).
	badCapture func() bool
	// sent is when the last single-use token request was sent, for the
	// ledger.
	sent time.Time
}

// base returns the target of the next request: the targets in turn, so that
// with several servers every flow crosses them (a grant made on one is
// redeemed on another).
func (s *session) base() string {
	b := s.cfg.Targets[s.n%len(s.cfg.Targets)]
	s.n++
	return b
}

// last returns the ordinal of the target base returned last.
func (s *session) last() int { return (s.n - 1) % len(s.cfg.Targets) }

func (s *session) basic() http.Header {
	h := http.Header{}
	req := http.Request{Header: h}
	req.SetBasicAuth(s.cfg.Account.Name, s.cfg.Account.Password)
	return h
}

func (s *session) vaultQuery(more ...string) string {
	q := url.Values{"user": {s.cfg.Key.User}, "passphrase": {s.cfg.Key.Passphrase}}
	for i := 0; i+1 < len(more); i += 2 {
		q.Set(more[i], more[i+1])
	}
	return q.Encode()
}

// tokenHeader is the headers of a secure-token API request; POST and
// PATCH get a new Idempotency-Key unless key is given.
func (s *session) tokenHeader(method, key string) http.Header {
	h := http.Header{"Authorization": {"Bearer " + s.bearer}, "Accept": {"application/json"}}
	if method == http.MethodPost || method == http.MethodPatch {
		if key == "" {
			key = NewIdempotencyKey()
		}
		h.Set("Idempotency-Key", key)
		h.Set("Content-Type", "application/json")
	}
	return h
}

func (s *session) terminalPath(rest string) string {
	return "/v1/processing-terminals/" + url.PathEscape(s.cfg.Terminal) + rest
}

// NewIdempotencyKey returns a random UUID v4.
func NewIdempotencyKey() string { return uuid.New() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// cardNumber is a random Luhn-valid 16-digit Visa-like number.
func cardNumber() string {
	n, err := luhn.Generate("4", 16, nil)
	if err != nil {
		panic(err) // only for a bad prefix or length, fixed here
	}
	return n
}

func cvv() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%03d", (int(b[0])<<8|int(b[1]))%1000)
}

// doJSON makes k and decodes its success body into out: the calls whose
// answer (a bearer token, a grant's secret, a token) the session goes on
// with.
func (s *session) doJSON(k call, out any) error {
	rep, err := s.do(k)
	if err != nil {
		return err
	}
	return json.Unmarshal(rep.body, out)
}

// authorize gets a bearer token for the API key.
func (s *session) authorize() error {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	err := s.doJSON(call{route: RouteAuthorize, method: "POST", url: s.base() + "/authorize",
		header: http.Header{"X-Api-Key": {s.cfg.APIKey}, "Accept": {"application/json"}}, want: http.StatusOK,
		check: func(b []byte) error { return expectMembers(b, "access_token") }}, &out)
	if err != nil {
		return err
	}
	s.bearer = out.AccessToken
	return nil
}

// item is a vault item this session stored, with the document it should
// hold.
type item struct {
	token, ref string
	doc        map[string]string
}

func (s *session) tokenize() (item, error) {
	it := item{ref: fmt.Sprintf("lg-%d-%d-%s", s.id, s.seq, randomHex(3)), doc: map[string]string{
		"card_number": cardNumber(), "card_holder": "Load Generator", "card_expiry": "12-2031", "cvv": cvv(),
	}}
	body, _ := json.Marshal(it.doc)
	var out struct{ Token string }
	err := s.doJSON(call{route: RouteTokenize, method: "POST", url: s.base() + "/v1/vault?" + s.vaultQuery("reference", it.ref),
		body: body, header: withJSON(s.basic()), want: http.StatusOK,
		check: func(b []byte) error { return expectMembers(b, "token", "reference") }}, &out)
	if err != nil {
		return it, err
	}
	it.token = out.Token
	s.ledger.itemStored(it)
	return it, nil
}

// retrieve reads the item back and checks it holds what it should.
func (s *session) retrieve(it item) error {
	_, err := s.do(call{route: RouteRetrieve, method: "GET",
		url:    s.base() + "/v1/vault?" + s.vaultQuery("token", it.token, "reference", it.ref),
		header: s.basic(), want: http.StatusOK,
		check: func(b []byte) error { return sameDoc(b, it.doc) }})
	return err
}

// grant is a capture endpoint.
type grant struct {
	id, secret string
}

// createGrant makes a capture endpoint locked to the item, for ten
// minutes.
func (s *session) createGrant(it item) (grant, error) {
	var out struct{ ID, Secret string }
	err := s.doJSON(call{route: RouteGrant, method: "POST",
		url:    s.base() + "/v1/capture?" + s.vaultQuery("token", it.token, "reference", it.ref, "ttl", "PT10M"),
		header: s.basic(), want: http.StatusOK,
		check: func(b []byte) error { return expectMembers(b, "id", "url", "secret", "expires_at", "lockdown_info") }}, &out)
	if err != nil {
		return grant{}, err
	}
	g := grant{id: out.ID, secret: out.Secret}
	s.ledger.grantCreated(g, it)
	return g, nil
}

// redeem posts a new CVV to the item's capture endpoint, as a card holder's
// browser would.
func (s *session) redeem(g grant, it *item) error {
	v := cvv()
	body := []byte(`{"cvv":"` + v + `"}`)
	s.ledger.redeemSent(*it, v)
	_, err := s.do(call{route: RouteRedeem, method: "POST", url: s.base() + "/v1/capture/" + g.id, body: body,
		header: http.Header{"X-Pcivault-Capture-Secret": {g.secret}, "Content-Type": {"text/plain;charset=UTF-8"}},
		want:   http.StatusOK,
		check: func(b []byte) error {
			return sameDoc(b, map[string]string{"user": s.cfg.Key.User, "token": it.token, "reference": it.ref})
		}})
	if err != nil {
		return err
	}
	it.doc["cvv"] = v
	s.ledger.redeemAcked(*it, v)
	return nil
}

// redeemUnknown posts to an endpoint that does not exist: the mix's
// intended 403.
func (s *session) redeemUnknown() error {
	_, err := s.do(call{route: RouteRedeem, method: "POST", url: s.base() + "/v1/capture/lg-unknown-" + randomHex(8),
		body: []byte(`{"cvv":"000"}`), header: http.Header{"X-Pcivault-Capture-Secret": {randomHex(32)}},
		want: -1, intended: []int{http.StatusForbidden}})
	return err
}

// secureToken is a secure token this session created.
type secureToken struct {
	id, token string
}

func cardSource(number, expiry string, withCVV bool) map[string]any {
	keyed := map[string]any{"dataFormat": "plainText", "cardNumber": number, "expiryDate": expiry}
	if withCVV {
		keyed["cvv"] = cvv()
	}
	return map[string]any{"type": "card", "cardDetails": map[string]any{
		"entryMethod": "keyed", "cardholderName": "Load Generator", "keyedData": keyed}}
}

func (s *session) createSecureToken() (secureToken, error) {
	body, _ := json.Marshal(map[string]any{
		"operator": "loadgen", "mitAgreement": "unscheduled",
		"customer":     map[string]any{"firstName": "Load", "lastName": "Generator"},
		"customFields": []map[string]string{{"name": "created", "value": "by loadgen"}},
		"source":       cardSource(cardNumber(), "1231", false),
	})
	sent := time.Now()
	var out struct{ SecureTokenID, Token string }
	err := s.doJSON(call{route: RouteSTCreate, method: "POST", url: s.base() + s.terminalPath("/secure-tokens"), body: body,
		header: s.tokenHeader("POST", ""), want: http.StatusCreated,
		check: func(b []byte) error { return expectMembers(b, "secureTokenId", "token", "source") }}, &out)
	if err != nil {
		return secureToken{}, err
	}
	st := secureToken{id: out.SecureTokenID, token: out.Token}
	s.ledger.secureTokenCreated(s.cfg.Terminal, st, sent, s.last())
	return st, nil
}

// patch appends a custom field named name to the token.
func (s *session) patch(st secureToken, name string) error {
	body, _ := json.Marshal([]map[string]any{{"op": "add", "path": "/customFields/-",
		"value": map[string]string{"name": name, "value": "patched"}}})
	s.ledger.patchSent(s.cfg.Terminal, st.id, name)
	sent := time.Now()
	_, err := s.do(call{route: RouteSTPatch, method: "PATCH", url: s.base() + s.terminalPath("/secure-tokens/"+url.PathEscape(st.id)),
		body: body, header: s.tokenHeader("PATCH", ""), want: http.StatusOK,
		check: func(b []byte) error { return hasCustomField(b, name) }})
	s.ledger.patchAnswered(s.cfg.Terminal, st.id, name, sent, s.last(), err)
	return err
}

func (s *session) list() error {
	_, err := s.do(call{route: RouteSTList, method: "GET", url: s.base() + s.terminalPath("/secure-tokens?limit=10"),
		header: s.tokenHeader("GET", ""), want: http.StatusOK,
		check: func(b []byte) error { return expectMembers(b, "limit", "count", "hasMore", "links", "data") }})
	return err
}

func (s *session) singleUse() (string, error) {
	body, _ := json.Marshal(map[string]any{"channel": "web", "operator": "loadgen", "source": cardSource(cardNumber(), "1230", true)})
	s.sent = time.Now()
	var out struct{ Token string }
	err := s.doJSON(call{route: RouteSingleUse, method: "POST", url: s.base() + s.terminalPath("/single-use-tokens"), body: body,
		header: s.tokenHeader("POST", ""), want: http.StatusCreated,
		check: func(b []byte) error { return expectMembers(b, "token", "expiresAt", "source") }}, &out)
	if err != nil {
		return "", err
	}
	if len(out.Token) != 128 {
		return "", errors.New("loadgen: a single-use token is not 128 characters")
	}
	return out.Token, nil
}

// updateAccount replaces the token's payment details with those of the
// single-use token. intended lists the error statuses that are the point
// of the call (a token used twice).
func (s *session) updateAccount(st secureToken, su string, intended ...int) (reply, error) {
	body := []byte(`{"type":"singleUseToken","token":"` + su + `"}`)
	want := http.StatusOK
	if len(intended) > 0 {
		want = -1
	}
	sent := time.Now()
	rep, err := s.do(call{route: RouteUpdateAccount, method: "POST",
		url:  s.base() + s.terminalPath("/secure-tokens/"+url.PathEscape(st.id)+"/update-account"),
		body: body, header: s.tokenHeader("POST", ""), want: want, intended: intended,
		check: func(b []byte) error { return expectMembers(b, "secureTokenId", "token", "source") }})
	s.ledger.accountUpdated(s.cfg.Terminal, st.id, su, sent, s.last(), rep.status)
	return rep, err
}

// UsedSingleUseStatus is the status the secure-token API answers for a
// single-use token that was already redeemed.
const UsedSingleUseStatus = http.StatusBadRequest

// iteration runs the mix once: a card saved, read, updated twice through a
// capture endpoint and read again; a secure token created, patched twice,
// listed, a single-use token created, and the secure token's account
// updated from the single-use token of the previous iteration. With Bad,
// two intended errors follow: a post to an unknown capture endpoint (403)
// and that single-use token redeemed a second time.
func (s *session) iteration() error {
	s.seq++
	it, err := s.tokenize()
	if err != nil {
		return err
	}
	if err := s.retrieve(it); err != nil {
		return err
	}
	g, err := s.createGrant(it)
	if err != nil {
		return err
	}
	for range 2 {
		if err := s.redeem(g, &it); err != nil {
			return err
		}
	}
	if err := s.retrieve(it); err != nil {
		return err
	}

	st, err := s.createSecureToken()
	if err != nil {
		return err
	}
	for i := range 2 {
		if err := s.patch(st, fmt.Sprintf("lg-%d-%d-%d", s.id, s.seq, i)); err != nil {
			return err
		}
	}
	if err := s.list(); err != nil {
		return err
	}
	su, err := s.singleUse()
	if err != nil {
		return err
	}
	s.ledger.singleUseCreated(s.cfg.Terminal, st, su, s.sent, s.last())
	// The single-use token of the previous iteration updates this one's
	// secure token: a session always holds one it has not used yet, as a
	// merchant holds a form's token until the customer checks out.
	prev := s.carry
	s.carry = su
	if prev != "" {
		s.ledger.singleUseSent(prev)
		if _, err := s.updateAccount(st, prev); err != nil {
			return err
		}
	}
	if s.cfg.Bad {
		if s.badCapture() {
			if err := s.redeemUnknown(); err != nil {
				return err
			}
		}
		if prev != "" {
			if _, err := s.updateAccount(st, prev, UsedSingleUseStatus); err != nil {
				return err
			}
		}
	}
	return nil
}

func withJSON(h http.Header) http.Header {
	h.Set("Content-Type", "application/json")
	return h
}

// expectMembers checks that body is a JSON object with the members.
func expectMembers(body []byte, names ...string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return errors.New("not a JSON object")
	}
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return fmt.Errorf("no %q member", n)
		}
	}
	return nil
}

// sameDoc checks that body is the JSON object of strings want; the error
// names members, never values.
func sameDoc(body []byte, want map[string]string) error {
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		return errors.New("not a JSON object of strings")
	}
	if reflect.DeepEqual(got, want) {
		return nil
	}
	for k := range want {
		if got[k] != want[k] {
			return fmt.Errorf("member %q differs", k)
		}
	}
	return errors.New("members differ: " + strconv.Itoa(len(got)) + " instead of " + strconv.Itoa(len(want)))
}

// customFieldNames returns the names of a secure token's custom fields.
func customFieldNames(body []byte) ([]string, error) {
	var r struct {
		CustomFields []struct{ Name string } `json:"customFields"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("not a secure token")
	}
	var out []string
	for _, f := range r.CustomFields {
		out = append(out, f.Name)
	}
	return out, nil
}

func hasCustomField(body []byte, name string) error {
	names, err := customFieldNames(body)
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return errors.New("the patched custom field is missing")
}
