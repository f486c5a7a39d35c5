// Package democlient is the little HTTP client the example programs share:
// the server's base URL and Basic credentials from flags or the
// environment, with the defaults of `go run ./examples/server` in dev mode,
// and JSON requests. Standard library only, so that each example reads as
// what a client in any language would send.
package democlient

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client talks to a cardvault server.
type Client struct {
	Base     *url.URL
	User     string
	Password string
	HTTP     *http.Client
}

// Flags registers -url and -basic-auth on the default flag set and returns
// a function that builds the Client after flag.Parse.
//
// The base URL comes from -url, else CARDVAULT_URL, else
// http://localhost:8080. The Basic credentials (user:password) come from
// -basic-auth, else CARDVAULT_BASIC_AUTH, else the dev credentials the
// server generated in its data directory (CARDVAULT_DATA, else
// ./cardvault-data).
func Flags() func() (*Client, error) {
	base := baseFlag()
	basic := flag.String("basic-auth", os.Getenv("CARDVAULT_BASIC_AUTH"), "user:password of a vault/capture account (default: the server's dev credentials)")
	return func() (*Client, error) {
		u, err := parseBase(*base)
		if err != nil {
			return nil, err
		}
		creds, err := orDev(*basic, "account", "-basic-auth user:password", func(dc devCredentialsFile) string {
			if dc.Account.Name == "" {
				return ""
			}
			return dc.Account.Name + ":" + dc.Account.Password
		})
		if err != nil {
			return nil, err
		}
		if i := strings.IndexByte(creds, ','); i >= 0 {
			creds = creds[:i] // the first of several accounts
		}
		user, password, ok := strings.Cut(creds, ":")
		if !ok {
			return nil, errors.New("basic auth credentials must be user:password")
		}
		return &Client{Base: u, User: user, Password: password, HTTP: &http.Client{Timeout: 30 * time.Second}}, nil
	}
}

// Main is an example program's main: it parses the flags, builds the
// client with client (from [Flags] or [TokenFlags]) and calls run with it.
// An error is printed under the program's name, and the program exits 1.
func Main[C any](name string, client func() (C, error), run func(C) error) {
	flag.Parse()
	c, err := client()
	if err == nil {
		err = run(c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// baseFlag registers -url.
func baseFlag() *string {
	return flag.String("url", envOr("CARDVAULT_URL", "http://localhost:8080"), "the server's base URL")
}

func parseBase(base string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("-url %q is not a URL", base)
	}
	return u, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// orDev returns a credential given by its flag (or environment variable),
// or else the one pick takes from the dev credentials the server wrote:
// what names it in errors, instead the flag to pass when there is none.
func orDev(given, what, instead string, pick func(devCredentialsFile) string) (string, error) {
	if given != "" {
		return given, nil
	}
	dc, err := readDevCredentials(instead)
	if err != nil {
		return "", err
	}
	v := pick(dc)
	if v == "" {
		return "", fmt.Errorf("the dev credentials hold no %s: pass %s", what, instead)
	}
	return v, nil
}

// devCredentialsFile is what the server writes in dev mode.
type devCredentialsFile struct {
	Account struct{ Name, Password string }
	APIKey  struct{ Key string } `json:"api_key"`
}

func readDevCredentials(instead string) (devCredentialsFile, error) {
	var dc devCredentialsFile
	path := filepath.Join(envOr("CARDVAULT_DATA", "cardvault-data"), "dev-credentials.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return dc, fmt.Errorf("no credentials given and no dev credentials to read (%v): pass %s", err, instead)
	}
	if err := json.Unmarshal(raw, &dc); err != nil {
		return dc, fmt.Errorf("%s does not hold dev credentials", path)
	}
	return dc, nil
}

// Request is one call to the server.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Body   any               // sent as JSON when not nil (a []byte as it is)
	Header map[string]string // extra headers
	NoAuth bool              // leave out the Basic credentials
}

// Do sends the request and decodes a 2xx JSON reply into out (when not
// nil). Any other status is an error that carries the server's message.
func (c *Client) Do(req Request, out any) error {
	u := endpoint(c.Base, req.Path)
	u.RawQuery = req.Query.Encode()
	hr, err := newRequest(req.Method, u.String(), req.Body)
	if err != nil {
		return err
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	if !req.NoAuth {
		hr.SetBasicAuth(c.User, c.Password)
	}
	r, err := send(c.HTTP, hr)
	if err != nil {
		return err
	}
	if r.Status/100 != 2 {
		var e struct{ Error string }
		_ = json.Unmarshal(r.Body, &e)
		return fmt.Errorf("%s %s: %d %s: %s", req.Method, req.Path, r.Status, http.StatusText(r.Status), e.Error)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Body, out)
}

// newRequest makes a request whose body is body's JSON, with its
// Content-Type (none for a nil body; a []byte is sent as it is).
func newRequest(method, url string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return nil, err
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// endpoint is base with path appended to its own.
func endpoint(base *url.URL, path string) url.URL {
	u := *base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u
}

// send sends req and reads the reply, up to 1 MiB of its body.
func send(hc *http.Client, req *http.Request) (Reply, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return Reply{Status: resp.StatusCode, Header: resp.Header, Body: raw}, err
}

// Key is a vault key's credentials.
type Key struct {
	User       string `json:"user"`
	Passphrase string `json:"passphrase"`
}

// NewKey creates a vault key with a fresh user name and a passphrase the
// server generates.
func (c *Client) NewKey() (Key, error) {
	var k Key
	var b [4]byte
	_, _ = rand.Read(b[:])
	err := c.Do(Request{Method: "POST", Path: "/v1/key", Body: map[string]string{"user": "example-" + hex.EncodeToString(b[:])}}, &k)
	return k, err
}

// Item is the reply of a vault or capture write.
type Item struct {
	Token     string `json:"token"`
	User      string `json:"user"`
	Reference string `json:"reference"`
}

// Store stores card under the key with a reference.
func (c *Client) Store(k Key, reference string, card map[string]string) (Item, error) {
	var it Item
	err := c.Do(Request{Method: "POST", Path: "/v1/vault", Body: card,
		Query: url.Values{"user": {k.User}, "passphrase": {k.Passphrase}, "reference": {reference}}}, &it)
	return it, err
}

// Endpoint is a capture endpoint as POST /v1/capture returns it.
type Endpoint struct {
	ID           string `json:"id"`
	URL          string `json:"url"`
	Secret       string `json:"secret"`
	ExpiresAt    string `json:"expires_at"`
	LockdownInfo *struct {
		Token     string `json:"token"`
		Reference string `json:"reference"`
	} `json:"lockdown_info"`
}

// LockedEndpoint creates a capture endpoint locked to one stored card.
func (c *Client) LockedEndpoint(k Key, it Item, ttl string) (Endpoint, error) {
	var e Endpoint
	err := c.Do(Request{Method: "POST", Path: "/v1/capture", Query: url.Values{
		"user": {k.User}, "passphrase": {k.Passphrase}, "ttl": {ttl}, "token": {it.Token}, "reference": {it.Reference},
	}}, &e)
	return e, err
}

// SeedCard creates a vault key and stores the seeds' test card under it with
// the reference "my-reference".
func (c *Client) SeedCard() (Key, Item, error) {
	key, err := c.NewKey()
	if err != nil {
		return key, Item{}, err
	}
	card, err := c.Store(key, "my-reference", map[string]string{
		"card_number": "4111111111111111", "card_holder": "Ada Lovelace", "card_expiry": "06-2024", "cvv": "123",
	})
	return key, card, err
}
