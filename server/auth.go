package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
)

// Account is an HTTP Basic account of the vault/capture API. Its Name is
// the owner of the vault keys it creates: no account reaches another's keys,
// items, grants or forms.
type Account struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// APIKey is a key of the secure-token API and the processing terminals its
// bearer tokens may act for; the single terminal "*" means all of them.
type APIKey struct {
	Key       string   `json:"key"`
	Terminals []string `json:"terminals"`
}

// Limits of configured credentials.
const (
	maxAccountName = 128
	maxCredential  = 1024
	// MinCredentialLen is the fewest characters an account password or an
	// API key may have: a credential the server checks on every request
	// must be long enough that guessing it, at the rate the failure limits
	// allow, is hopeless.
	MinCredentialLen = 16
	// maxBearerLen bounds an access token presented in a header.
	maxBearerLen = 1024
)

// ParseAccounts parses CARDVAULT_BASIC_AUTH: "name:password", several
// separated by commas ("u1:p1,u2:p2"). A password may contain ':' but not
// ','; names must be unique. Errors never repeat a password.
func ParseAccounts(s string) ([]Account, error) {
	var out []Account
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		name, password, ok := strings.Cut(part, ":")
		switch {
		case strings.TrimSpace(part) == "":
			return nil, fmt.Errorf("server: basic auth account %d is empty", i+1)
		case !ok || password == "":
			return nil, fmt.Errorf("server: basic auth account %d is not name:password", i+1)
		case !validName(name, maxAccountName):
			return nil, fmt.Errorf("server: basic auth account %d: the name must be 1-%d printable characters without ':'", i+1, maxAccountName)
		case len(password) > maxCredential || !utf8.ValidString(password):
			return nil, fmt.Errorf("server: basic auth account %d: the password must be valid UTF-8 of at most %d bytes", i+1, maxCredential)
		case utf8.RuneCountInString(password) < MinCredentialLen:
			return nil, fmt.Errorf("server: basic auth account %d: the password must be at least %d characters", i+1, MinCredentialLen)
		case seen[name]:
			return nil, fmt.Errorf("server: basic auth account %d repeats a name", i+1)
		}
		seen[name] = true
		out = append(out, Account{Name: name, Password: password})
	}
	return out, nil
}

// ParseAPIKeys parses CARDVAULT_API_KEYS: "key:terminal1,terminal2", several
// separated by semicolons ("k1:1234001,1234002;k2:*"). A key may contain
// neither ':' nor ';'. Terminal ids are 4 to 50 printable characters, or
// "*" alone for every terminal. Errors never repeat a key.
func ParseAPIKeys(s string) ([]APIKey, error) {
	var out []APIKey
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ";") {
		key, terms, ok := strings.Cut(part, ":")
		switch {
		case strings.TrimSpace(part) == "":
			return nil, fmt.Errorf("server: API key %d is empty", i+1)
		case !ok || key == "":
			return nil, fmt.Errorf("server: API key %d is not of the form key:terminal[,terminal]", i+1)
		case !validName(key, maxCredential):
			return nil, fmt.Errorf("server: API key %d must be 1-%d printable characters without ':'", i+1, maxCredential)
		case len(key) < MinCredentialLen:
			return nil, fmt.Errorf("server: API key %d must be at least %d characters", i+1, MinCredentialLen)
		case seen[key]:
			return nil, fmt.Errorf("server: API key %d is repeated", i+1)
		}
		seen[key] = true
		k := APIKey{Key: key}
		for _, t := range strings.Split(terms, ",") {
			t = strings.TrimSpace(t)
			if err := checkTerminalID(t); err != nil {
				return nil, fmt.Errorf("server: API key %d: %w", i+1, err)
			}
			k.Terminals = append(k.Terminals, t)
		}
		if len(k.Terminals) > 1 && contains(k.Terminals, "*") {
			return nil, fmt.Errorf("server: API key %d: \"*\" stands alone", i+1)
		}
		out = append(out, k)
	}
	return out, nil
}

// checkTerminalID: a terminal id (the root package's rule), or "*".
func checkTerminalID(t string) error {
	if t == "*" {
		return nil
	}
	return cardvault.CheckTerminalID(t)
}

// validName: 1 to max bytes of printable ASCII, no ':' and no space.
func validName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == ':' {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// basicAccount is an account as the server keeps it: keyed hashes of its
// name and password under a key that lives only in this process, never the
// password.
type basicAccount struct {
	name               string
	nameMAC, secretMAC [32]byte
}

// apiClient is an API key as the server keeps it. ID names it in bearer
// tokens and scopes its idempotency keys; it is a keyed hash of the key
// under the deployment's server key (so every process sharing the store
// computes the same), never the key.
type apiClient struct {
	ID        string
	keyMAC    [32]byte
	all       bool
	terminals map[string]bool
}

// mayUse reports whether the client may act for terminal.
func (c *apiClient) mayUse(terminal string) bool { return c.all || c.terminals[terminal] }

// authenticator checks Basic credentials, API keys and bearer tokens.
type authenticator struct {
	processKey []byte // random per process: Basic account hashes
	accounts   []basicAccount
	hasher     *crypto.Hasher // the deployment's server key: API key ids, token signatures
	clients    []*apiClient
	ttl        time.Duration
	now        func() time.Time
}

// Hasher labels under the server key.
const (
	labelAPIKey = "server.api-key"
	labelBearer = "server.bearer"
)

func newAuthenticator(accounts []Account, keys []APIKey, hasher *crypto.Hasher, ttl time.Duration, now func() time.Time) (*authenticator, error) {
	a := &authenticator{processKey: make([]byte, 32), hasher: hasher, ttl: ttl, now: now}
	_, _ = rand.Read(a.processKey)
	names := map[string]bool{}
	for _, acc := range accounts {
		if !validName(acc.Name, maxAccountName) || acc.Password == "" || names[acc.Name] {
			return nil, errors.New("server: an account needs a unique name (1-128 printable characters, no ':') and a password")
		}
		if utf8.RuneCountInString(acc.Password) < MinCredentialLen {
			return nil, fmt.Errorf("server: the password of account %q must be at least %d characters", acc.Name, MinCredentialLen)
		}
		names[acc.Name] = true
		a.accounts = append(a.accounts, basicAccount{
			name: acc.Name, nameMAC: a.processMAC("name", acc.Name), secretMAC: a.processMAC("password", acc.Password),
		})
	}
	ids := map[string]bool{}
	for _, k := range keys {
		if k.Key == "" || len(k.Terminals) == 0 {
			return nil, errors.New("server: an API key needs a key and at least one terminal (or \"*\")")
		}
		if utf8.RuneCountInString(k.Key) < MinCredentialLen {
			return nil, fmt.Errorf("server: an API key must be at least %d characters", MinCredentialLen)
		}
		c := &apiClient{keyMAC: hasher.Sum(labelAPIKey, []byte(k.Key)), terminals: map[string]bool{}}
		c.ID = hex.EncodeToString(c.keyMAC[:16])
		if ids[c.ID] {
			return nil, errors.New("server: an API key is configured twice")
		}
		ids[c.ID] = true
		for _, t := range k.Terminals {
			if err := checkTerminalID(t); err != nil {
				return nil, fmt.Errorf("server: API key terminals: %w", err)
			}
			if t == "*" {
				c.all = true
			}
			c.terminals[t] = true
		}
		a.clients = append(a.clients, c)
	}
	return a, nil
}

func (a *authenticator) processMAC(label, s string) [32]byte {
	m := hmac.New(sha256.New, a.processKey)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(s))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// basic checks the Basic credentials user and pass: it returns the account
// they open, and, when they open none, the account user names ("" when
// none), whose failures they count against. Every account is compared, in
// constant time, whatever matches.
func (a *authenticator) basic(user, pass string) (account string, ok bool) {
	if len(user) > maxCredential || len(pass) > maxCredential {
		return "", false
	}
	nameMAC, secretMAC := a.processMAC("name", user), a.processMAC("password", pass)
	found, named := -1, -1
	for i := range a.accounts {
		name := subtle.ConstantTimeCompare(nameMAC[:], a.accounts[i].nameMAC[:])
		match := name & subtle.ConstantTimeCompare(secretMAC[:], a.accounts[i].secretMAC[:])
		found = subtle.ConstantTimeSelect(match, i, found)
		named = subtle.ConstantTimeSelect(name, i, named)
	}
	switch {
	case found >= 0:
		return a.accounts[found].name, true
	case named >= 0:
		return a.accounts[named].name, false
	}
	return "", false
}

// account returns the configured account named user, if any, comparing
// every name in constant time.
func (a *authenticator) account(user string) string {
	if len(user) > maxCredential {
		return ""
	}
	nameMAC := a.processMAC("name", user)
	named := -1
	for i := range a.accounts {
		named = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(nameMAC[:], a.accounts[i].nameMAC[:]), i, named)
	}
	if named < 0 {
		return ""
	}
	return a.accounts[named].name
}

// apiKey returns the client whose key is key, comparing every client's hash
// in constant time.
func (a *authenticator) apiKey(key string) (*apiClient, bool) {
	if key == "" || len(key) > maxCredential {
		return nil, false
	}
	mac := a.hasher.Sum(labelAPIKey, []byte(key))
	found := -1
	for i, c := range a.clients {
		found = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(mac[:], c.keyMAC[:]), i, found)
	}
	if found < 0 {
		return nil, false
	}
	return a.clients[found], true
}

func (a *authenticator) client(id string) (*apiClient, bool) {
	for _, c := range a.clients {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

// Access tokens are JWTs (RFC 7519) signed with HS256 under a key derived
// from the deployment's server key, which is kept in the store wrapped by the
// master keyring (bucket server.keys). Every process that shares the store
// and the master key verifies every other's tokens without a store round
// trip, and a restart does not invalidate them. The header is fixed and
// compared byte for byte, so no "alg" games are possible; the claims are iss
// "cardvault", sub (the API key's id: a keyed hash, not the key), iat and
// exp. The terminals a token may act for are looked up from the process's
// configuration by sub on every request, so removing an API key from the
// configuration revokes its tokens at once in that process.

const (
	bearerIssuer = "cardvault"
	bearerScope  = "secure-tokens single-use-tokens"
	// bearerLeeway tolerates clocks of processes that disagree a little
	// on when a token was issued; expiry is enforced exactly.
	bearerLeeway = time.Minute
)

var bearerHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type bearerClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// issue returns an access token for c and its lifetime in seconds.
func (a *authenticator) issue(c *apiClient) (string, int64) {
	now := a.now().Unix()
	ttl := int64(a.ttl / time.Second)
	payload, _ := json.Marshal(bearerClaims{Iss: bearerIssuer, Sub: c.ID, Iat: now, Exp: now + ttl})
	signing := bearerHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := a.hasher.Sum(labelBearer, []byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig[:]), ttl
}

// verify returns the client an access token was issued to, if the token is
// genuine, unexpired and its API key is still configured.
func (a *authenticator) verify(token string) (*apiClient, bool) {
	if len(token) > maxBearerLen {
		return nil, false
	}
	head, rest, ok := strings.Cut(token, ".")
	if !ok || head != bearerHeader {
		return nil, false
	}
	payloadB64, sigB64, ok := strings.Cut(rest, ".")
	if !ok {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sigB64)
	if err != nil {
		return nil, false
	}
	want := a.hasher.Sum(labelBearer, []byte(head+"."+payloadB64))
	if !hmac.Equal(sig, want[:]) {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(payloadB64)
	if err != nil {
		return nil, false
	}
	var claims bearerClaims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&claims); err != nil || claims.Iss != bearerIssuer {
		return nil, false
	}
	now := a.now()
	if now.Unix() >= claims.Exp || time.Unix(claims.Iat, 0).After(now.Add(bearerLeeway)) {
		return nil, false
	}
	return a.client(claims.Sub)
}

// bearerToken returns the credentials of an "Authorization: Bearer <token>"
// header (the scheme in any case).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authorize answers POST /authorize: the x-api-key header's key for an
// access token. No body is read.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if !acceptsJSON(r) {
		writeProblem(w, s.newProblem(anchorNotAcceptable))
		return
	}
	key := r.Header.Get("X-Api-Key")
	client := clientAddr(r)
	if key != "" {
		if wait := s.limits.credentialsWait(client, authorizeAccount); wait > 0 {
			s.metrics.throttled(limitCredentials)
			setRetryAfter(w.Header(), wait)
			writeProblem(w, s.newProblem(anchorTooMany))
			return
		}
	}
	c, ok := s.auth.apiKey(key)
	if !ok {
		if key != "" {
			s.limits.credentialsFailed(client, authorizeAccount)
		}
		s.noteAuthFailure(r, "api_key")
		writeProblem(w, s.newProblem(anchorNotAuthorized))
		return
	}
	token, ttl := s.auth.issue(c)
	s.note(r, audit.Event{Op: audit.OpBearerIssued, Outcome: audit.OutcomeOK, APIKeyID: c.ID})
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Scope       string `json:"scope"`
		TokenType   string `json:"token_type"`
	}{token, ttl, bearerScope, "Bearer"})
}

// terminalWildcard is the path wildcard requireBearer checks against the
// API key's terminals.
const terminalWildcard = "processingTerminalId"

type clientKey struct{}

// clientFrom returns the API client that requireBearer authenticated.
func clientFrom(ctx context.Context) (*apiClient, bool) {
	c, ok := ctx.Value(clientKey{}).(*apiClient)
	return c, ok
}

// requireBearer authenticates "Authorization: Bearer <access token>" and,
// on a route whose pattern has the wildcard {processingTerminalId}, checks
// that the token's API key may act for that terminal. It answers 401
// not-authorized (with WWW-Authenticate: Bearer) for a missing, forged or
// expired token, and 403 forbidden (with instance and resource
// "processingTerminal") for a terminal outside the key's. The handler finds
// the client with clientFrom.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		var c *apiClient
		if ok {
			c, ok = s.auth.verify(token)
		}
		if !ok {
			s.noteAuthFailure(r, "bearer")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cardvault"`)
			writeProblem(w, s.newProblem(anchorNotAuthorized))
			return
		}
		if strings.Contains(r.Pattern, "{"+terminalWildcard+"}") && !c.mayUse(r.PathValue(terminalWildcard)) {
			p := s.newProblem(anchorForbidden)
			p.Instance, p.Resource = s.instance(r), "processingTerminal"
			writeProblem(w, p)
			return
		}
		infoFrom(r.Context()).client = c.ID
		ctx := withActor(r.Context(), func(a *audit.Actor) { a.APIKeyID, a.Terminal = c.ID, r.PathValue(terminalWildcard) })
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, clientKey{}, c)))
	})
}

type accountKey struct{}

// accountFrom returns the Basic account requireBasic authenticated.
func accountFrom(ctx context.Context) string {
	name, _ := ctx.Value(accountKey{}).(string)
	return name
}

// requireBasic authenticates the vault/capture API's HTTP Basic
// credentials: 401 {"error": ...} with WWW-Authenticate: Basic otherwise,
// and 429 with Retry-After, before checking them, for a client (or an
// account) over its limit of failures (see limits.go). A request without
// credentials is not a failure.
func (s *Server) requireBasic(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, given := r.BasicAuth()
		client := clientAddr(r)
		if given {
			if wait := s.limits.credentialsWait(client, s.auth.account(user)); wait > 0 {
				s.writeTooMany(w, limitCredentials, wait)
				return
			}
		}
		name, ok := "", false
		if given {
			name, ok = s.auth.basic(user, pass)
		}
		if !ok {
			if given {
				s.limits.credentialsFailed(client, name)
			}
			s.noteAuthFailure(r, "basic")
			w.Header().Set("WWW-Authenticate", `Basic realm="cardvault", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong basic auth credentials")
			return
		}
		infoFrom(r.Context()).account = name
		ctx := withActor(r.Context(), func(a *audit.Actor) { a.Account = name })
		next(w, r.WithContext(context.WithValue(ctx, accountKey{}, name)))
	}
}

// serverKeyBucket holds the deployment's server key, wrapped by the master
// keyring; serverKeyName is its key there.
const (
	serverKeyBucket = "server.keys"
	serverKeyName   = "server-key"
)
