package democlient

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// TokenClient talks to the secure-token API: an API key exchanged at
// POST /authorize for a bearer token, sent with every call.
type TokenClient struct {
	Base     *url.URL
	Terminal string // the processing terminal the calls are for
	HTTP     *http.Client
	apiKey   string
	bearer   string
}

// TokenFlags registers -url, -api-key and -terminal on the default flag set
// and returns a function that builds the TokenClient after flag.Parse.
//
// The base URL comes from -url, else CARDVAULT_URL, else
// http://localhost:8080. The API key comes from -api-key, else
// CARDVAULT_API_KEY, else the dev credentials the server generated in its
// data directory (CARDVAULT_DATA, else ./cardvault-data). The terminal is
// -terminal, 1234001 by default.
func TokenFlags() func() (*TokenClient, error) {
	base := baseFlag()
	key := flag.String("api-key", os.Getenv("CARDVAULT_API_KEY"), "an API key of the secure-token API (default: the server's dev credentials)")
	terminal := flag.String("terminal", "1234001", "the processing terminal")
	return func() (*TokenClient, error) {
		u, err := parseBase(*base)
		if err != nil {
			return nil, err
		}
		k, err := orDev(*key, "API key", "-api-key", func(dc devCredentialsFile) string { return dc.APIKey.Key })
		if err != nil {
			return nil, err
		}
		return &TokenClient{Base: u, Terminal: *terminal, HTTP: &http.Client{Timeout: 30 * time.Second}, apiKey: k}, nil
	}
}

// Authorize exchanges the API key for a bearer token, as the secure-token
// API's identity service does, and returns its lifetime in seconds and its
// scope.
func (c *TokenClient) Authorize() (expiresIn int, scope string, err error) {
	req, err := http.NewRequest("POST", c.url("/authorize"), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("x-api-key", c.apiKey)
	r, err := c.send(req)
	if err != nil {
		return 0, "", err
	}
	if r.Status != http.StatusOK {
		return 0, "", fmt.Errorf("POST /authorize: %s", r.Problem())
	}
	var got struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
		Scope       string `json:"scope"`
		TokenType   string `json:"token_type"`
	}
	if err := json.Unmarshal(r.Body, &got); err != nil || got.AccessToken == "" || got.TokenType != "Bearer" {
		return 0, "", errors.New("POST /authorize: not a bearer token reply")
	}
	c.bearer = got.AccessToken
	return got.ExpiresIn, got.Scope, nil
}

// Reply is a reply of the secure-token API.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Problem describes an RFC 7807 error reply: its status, type anchor and
// each entry of its errors.
func (r Reply) Problem() string {
	var p struct {
		Type   string
		Title  string
		Detail string
		Errors []struct{ Parameter, Detail, Message string }
	}
	if json.Unmarshal(r.Body, &p) != nil || p.Type == "" {
		return fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s (%s)", r.Status, p.Title, p.Type[strings.LastIndexByte(p.Type, '#')+1:])
	for _, e := range p.Errors {
		fmt.Fprintf(&b, "\n  %s: %s", e.Parameter, e.Message)
	}
	return b.String()
}

// Call sends body (JSON, when not nil) to the terminal's path below
// /v1/processing-terminals/{terminal}, with the bearer token and, for POST
// and PATCH, a new Idempotency-Key. Any status is a Reply; an error is a
// failure to get one.
func (c *TokenClient) Call(method, path string, body any) (Reply, error) {
	req, err := newRequest(method, c.url("/v1/processing-terminals/"+url.PathEscape(c.Terminal)+path), body)
	if err != nil {
		return Reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+c.bearer)
	if method == http.MethodPost || method == http.MethodPatch {
		req.Header.Set("Idempotency-Key", NewIdempotencyKey())
	}
	return c.send(req)
}

// Expect sends like Call and decodes the reply into out (when not nil) if
// its status is want; any other status is an error describing the problem.
func (c *TokenClient) Expect(want int, method, path string, body, out any) error {
	r, err := c.Call(method, path, body)
	if err != nil {
		return err
	}
	if r.Status != want {
		return fmt.Errorf("%s %s: %s", method, path, r.Problem())
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Body, out)
}

func (c *TokenClient) url(path string) string {
	u := endpoint(c.Base, path)
	return u.String()
}

func (c *TokenClient) send(req *http.Request) (Reply, error) { return send(c.HTTP, req) }

// NewIdempotencyKey returns a random UUID version 4.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// SecureToken is the part of a secure token the examples print.
type SecureToken struct {
	SecureTokenID        string         `json:"secureTokenId"`
	ProcessingTerminalID string         `json:"processingTerminalId"`
	Token                string         `json:"token"`
	Status               string         `json:"status"`
	MITAgreement         string         `json:"mitAgreement"`
	Source               map[string]any `json:"source"`
	Customer             map[string]any `json:"customer"`
}

// SeedSecureToken is the create request of the guide's secure token (its
// example response, as a request), under id.
func SeedSecureToken(id string) map[string]any {
	address := map[string]any{"address1": "1 Example Ave.", "address2": "Example Address Line 2", "address3": "Example Address Line 3",
		"city": "Chicago", "state": "Illinois", "country": "US", "postalCode": "60056"}
	return map[string]any{
		"secureTokenId": id,
		"mitAgreement":  "unscheduled",
		"customer": map[string]any{
			"firstName": "Sarah", "lastName": "Hopper", "dateOfBirth": "1990-07-15", "referenceNumber": "Customer-12",
			"billingAddress":       address,
			"shippingAddress":      map[string]any{"recipientName": "Sarah Hopper", "address": address},
			"contactMethods":       []any{map[string]any{"type": "email", "value": "sarah.hopper@example.com"}},
			"notificationLanguage": "en",
		},
		"source": map[string]any{"type": "card", "cardDetails": map[string]any{
			"entryMethod": "keyed", "cardholderName": "Sarah Hazel Hopper",
			"keyedData": map[string]any{"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1230", "cvv": "234"},
		}},
		"customFields": []any{map[string]any{"name": "yourCustomField", "value": "abc123"}},
	}
}

// NewSecureTokenID returns a fresh secureTokenId in the guide's style:
// ids are never reused, so each run of an example makes its own.
func NewSecureTokenID() string { return "MREF_" + NewIdempotencyKey() }
