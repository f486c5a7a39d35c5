// Package access decides who may act: the HTTP Basic accounts of the
// vault/capture API, the API keys of the secure-token API with the
// processing terminals each may act for, and the bearer tokens an API key is
// exchanged for.
//
// Secrets are never kept. [Accounts] holds keyed hashes of names and
// passwords under a key that lives only in its process; [Keys] holds keyed
// hashes of API keys under a deployment's key, so that every process that
// shares it names a key alike ([Client].ID) and verifies every other's
// bearer tokens. Every check compares each configured hash in constant time,
// whatever matches. Errors never repeat a password or a key.
//
// What is no one's is refused with a plain false: the caller (the server's
// middleware) decides what to answer, and counts the failure in [Limits],
// which holds back a client — and, for the clients that failed, an account
// or vault key — past its [FailureLimits] before its next guess is even
// checked.
package access

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
)

// ErrInvalid is the error of a credential or configuration that breaks a
// rule of this package: a short password, a repeated name, a malformed API
// key list. Its messages never hold the secret.
var ErrInvalid = fmt.Errorf("access: %w", cardvault.ErrInvalid)

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

// Limits of credentials.
const (
	maxAccountName = 128
	maxCredential  = 1024
	// MinCredentialLen is the fewest characters an account password or an
	// API key may have: a credential checked on every request must be long
	// enough that guessing it, at the rate failure limits allow, is
	// hopeless.
	MinCredentialLen = 16
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// ParseAccounts parses a list of accounts, "name:password", several
// separated by commas ("u1:p1,u2:p2") — examples/server's
// CARDVAULT_BASIC_AUTH. A password may contain ':' but not ','; names must
// be unique. Errors never repeat a password.
func ParseAccounts(s string) ([]Account, error) {
	var out []Account
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ",") {
		name, password, ok := strings.Cut(part, ":")
		switch {
		case strings.TrimSpace(part) == "":
			return nil, invalid("basic auth account %d is empty", i+1)
		case !ok || password == "":
			return nil, invalid("basic auth account %d is not name:password", i+1)
		case !validName(name, maxAccountName):
			return nil, invalid("basic auth account %d: the name must be 1-%d printable characters without ':'", i+1, maxAccountName)
		case len(password) > maxCredential || !utf8.ValidString(password):
			return nil, invalid("basic auth account %d: the password must be valid UTF-8 of at most %d bytes", i+1, maxCredential)
		case utf8.RuneCountInString(password) < MinCredentialLen:
			return nil, invalid("basic auth account %d: the password must be at least %d characters", i+1, MinCredentialLen)
		case seen[name]:
			return nil, invalid("basic auth account %d repeats a name", i+1)
		}
		seen[name] = true
		out = append(out, Account{Name: name, Password: password})
	}
	return out, nil
}

// ParseAPIKeys parses a list of API keys, "key:terminal1,terminal2",
// several separated by semicolons ("k1:1234001,1234002;k2:*") —
// examples/server's CARDVAULT_API_KEYS. A key may contain neither ':' nor
// ';'. Terminal ids are 4 to 50 printable characters, or "*" alone for
// every terminal. Errors never repeat a key.
func ParseAPIKeys(s string) ([]APIKey, error) {
	var out []APIKey
	seen := map[string]bool{}
	for i, part := range strings.Split(s, ";") {
		key, terms, ok := strings.Cut(part, ":")
		switch {
		case strings.TrimSpace(part) == "":
			return nil, invalid("API key %d is empty", i+1)
		case !ok || key == "":
			return nil, invalid("API key %d is not of the form key:terminal[,terminal]", i+1)
		case !validName(key, maxCredential):
			return nil, invalid("API key %d must be 1-%d printable characters without ':'", i+1, maxCredential)
		case len(key) < MinCredentialLen:
			return nil, invalid("API key %d must be at least %d characters", i+1, MinCredentialLen)
		case seen[key]:
			return nil, invalid("API key %d is repeated", i+1)
		}
		seen[key] = true
		k := APIKey{Key: key}
		for _, t := range strings.Split(terms, ",") {
			t = strings.TrimSpace(t)
			if err := checkTerminalID(t); err != nil {
				return nil, invalid("API key %d: %w", i+1, err)
			}
			k.Terminals = append(k.Terminals, t)
		}
		if len(k.Terminals) > 1 && slices.Contains(k.Terminals, "*") {
			return nil, invalid("API key %d: \"*\" stands alone", i+1)
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

// Accounts checks HTTP Basic credentials. It keeps keyed hashes of the
// names and passwords under a key made at random when it is made, never a
// password. It is safe for concurrent use.
type Accounts struct {
	processKey []byte
	accounts   []basicAccount
}

type basicAccount struct {
	name               string
	nameMAC, secretMAC [32]byte
}

// NewAccounts returns the Accounts of list: each needs a unique name (1-128
// printable characters, no ':') and a password of at least
// MinCredentialLen characters.
func NewAccounts(list []Account) (*Accounts, error) {
	a := &Accounts{processKey: make([]byte, 32)}
	_, _ = rand.Read(a.processKey)
	names := map[string]bool{}
	for _, acc := range list {
		if !validName(acc.Name, maxAccountName) || acc.Password == "" || names[acc.Name] {
			return nil, invalid("an account needs a unique name (1-128 printable characters, no ':') and a password")
		}
		if utf8.RuneCountInString(acc.Password) < MinCredentialLen {
			return nil, invalid("the password of account %q must be at least %d characters", acc.Name, MinCredentialLen)
		}
		names[acc.Name] = true
		a.accounts = append(a.accounts, basicAccount{
			name: acc.Name, nameMAC: a.mac("name", acc.Name), secretMAC: a.mac("password", acc.Password),
		})
	}
	return a, nil
}

func (a *Accounts) mac(label, s string) [32]byte {
	m := hmac.New(sha256.New, a.processKey)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(s))
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Check checks the credentials user and pass: it returns the account they
// open, and, when they open none, the account user names ("" when none),
// whose failures they count against. Every account is compared, in
// constant time, whatever matches.
func (a *Accounts) Check(user, pass string) (account string, ok bool) {
	if len(user) > maxCredential || len(pass) > maxCredential {
		return "", false
	}
	nameMAC, secretMAC := a.mac("name", user), a.mac("password", pass)
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

// Named returns the account named user, "" when there is none, comparing
// every name in constant time.
func (a *Accounts) Named(user string) string {
	if len(user) > maxCredential {
		return ""
	}
	nameMAC := a.mac("name", user)
	named := -1
	for i := range a.accounts {
		named = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(nameMAC[:], a.accounts[i].nameMAC[:]), i, named)
	}
	if named < 0 {
		return ""
	}
	return a.accounts[named].name
}

// Client is an API key as Keys keeps it.
type Client struct {
	// ID names the key in bearer tokens and scopes its idempotency keys:
	// a keyed hash of the key under the deployment's key (so every
	// process that shares it computes the same), never the key.
	ID        string
	keyMAC    [32]byte
	all       bool
	terminals map[string]bool
}

// MayUse reports whether the client may act for terminal.
func (c *Client) MayUse(terminal string) bool { return c.all || c.terminals[terminal] }

// Keys checks API keys and issues and verifies the bearer tokens they are
// exchanged for. It keeps keyed hashes of the keys, never a key. It is safe
// for concurrent use.
type Keys struct {
	hasher  *crypto.Hasher
	clients []*Client
	ttl     time.Duration
	now     func() time.Time
}

// Hasher labels under the deployment's key. They are the server's of old:
// changing them would change every Client.ID and void every token.
const (
	labelAPIKey = "server.api-key"
	labelBearer = "server.bearer"
)

// DefaultBearerTTL is the lifetime of a bearer token unless NewKeys is
// given another.
const DefaultBearerTTL = time.Hour

// NewKeys returns the Keys of list, hashed under hasher, the deployment's
// key (every process that shares it accepts the others' tokens). Bearer
// tokens live ttl (at least a second; 0 or less means DefaultBearerTTL);
// now is the clock. Each key needs at least MinCredentialLen characters and
// one terminal (or "*").
func NewKeys(list []APIKey, hasher *crypto.Hasher, ttl time.Duration, now func() time.Time) (*Keys, error) {
	if ttl <= 0 {
		ttl = DefaultBearerTTL
	}
	if ttl < time.Second {
		return nil, invalid("a bearer token's lifetime is under a second")
	}
	k := &Keys{hasher: hasher, ttl: ttl, now: now}
	ids := map[string]bool{}
	for _, key := range list {
		if key.Key == "" || len(key.Terminals) == 0 {
			return nil, invalid("an API key needs a key and at least one terminal (or \"*\")")
		}
		if utf8.RuneCountInString(key.Key) < MinCredentialLen {
			return nil, invalid("an API key must be at least %d characters", MinCredentialLen)
		}
		c := &Client{keyMAC: hasher.Sum(labelAPIKey, []byte(key.Key)), terminals: map[string]bool{}}
		c.ID = hex.EncodeToString(c.keyMAC[:16])
		if ids[c.ID] {
			return nil, invalid("an API key is configured twice")
		}
		ids[c.ID] = true
		for _, t := range key.Terminals {
			if err := checkTerminalID(t); err != nil {
				return nil, invalid("API key terminals: %w", err)
			}
			c.all = c.all || t == "*"
			c.terminals[t] = true
		}
		k.clients = append(k.clients, c)
	}
	return k, nil
}

// Lookup returns the client whose key is key, comparing every client's
// hash in constant time.
func (k *Keys) Lookup(key string) (*Client, bool) {
	if key == "" || len(key) > maxCredential {
		return nil, false
	}
	mac := k.hasher.Sum(labelAPIKey, []byte(key))
	found := -1
	for i, c := range k.clients {
		found = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(mac[:], c.keyMAC[:]), i, found)
	}
	if found < 0 {
		return nil, false
	}
	return k.clients[found], true
}

// client returns the client of id, a Client.ID: not a secret.
func (k *Keys) client(id string) (*Client, bool) {
	for _, c := range k.clients {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}
