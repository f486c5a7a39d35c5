package access

import (
	"bytes"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Bearer tokens are JWTs (RFC 7519) signed with HS256 under a key derived
// from the deployment's key given to NewKeys. Every process that shares it
// verifies every other's tokens without a round trip, and a restart does
// not invalidate them. The header is fixed and compared byte for byte, so
// no "alg" games are possible; the claims are iss "cardvault", sub (the
// Client.ID: a keyed hash, not the key), iat and exp. The terminals a token
// may act for are looked up by sub on every Verify, so removing an API key
// from a process's Keys revokes its tokens at once in that process.

const (
	bearerIssuer = "cardvault"
	// Scope is the scope of every bearer token: the secure-token API's
	// resources.
	Scope = "secure-tokens single-use-tokens"
	// bearerLeeway tolerates clocks of processes that disagree a little
	// on when a token was issued; expiry is enforced exactly.
	bearerLeeway = time.Minute
	// maxBearerLen bounds a token Verify looks at.
	maxBearerLen = 1024
)

var bearerHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type bearerClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
}

// Issue returns a bearer token for c and its lifetime in seconds.
func (k *Keys) Issue(c *Client) (token string, expiresIn int64) {
	now := k.now().Unix()
	ttl := int64(k.ttl / time.Second)
	payload, _ := json.Marshal(bearerClaims{Iss: bearerIssuer, Sub: c.ID, Iat: now, Exp: now + ttl})
	signing := bearerHeader + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := k.hasher.Sum(labelBearer, []byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig[:]), ttl
}

// Token is an issued bearer token as the secure-token API's POST
// /authorize answers it: {"access_token", "expires_in" (seconds),
// "scope", "token_type": "Bearer"}.
type Token struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
	TokenType   string `json:"token_type"`
}

// IssueToken is Issue's token for c, in its wire shape.
func (k *Keys) IssueToken(c *Client) Token {
	token, ttl := k.Issue(c)
	return Token{AccessToken: token, ExpiresIn: ttl, Scope: Scope, TokenType: "Bearer"}
}

// Verify returns the client a bearer token was issued to, if the token is
// genuine, unexpired and its API key is still one of k's.
func (k *Keys) Verify(token string) (*Client, bool) {
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
	want := k.hasher.Sum(labelBearer, []byte(head+"."+payloadB64))
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
	now := k.now()
	if now.Unix() >= claims.Exp || time.Unix(claims.Iat, 0).After(now.Add(bearerLeeway)) {
		return nil, false
	}
	return k.client(claims.Sub)
}
