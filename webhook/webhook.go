// Package webhook is how cardvault tells a merchant's endpoint that
// something happened — a capture, the answer of an asynchronous proxy call
// — and how the endpoint tells that the call is genuine.
//
// # The request
//
// A webhook is a POST of a JSON body with three headers:
//
//	X-PCIVault-Webhook-Secret: <the secret the merchant chose>
//	X-Cardvault-Delivery:      <id>
//	X-Cardvault-Signature:     t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
//
// The first is the vault/capture API's own (a receiver written for it
// compares it with the secret it set); the delivery id is the same on every
// try of one notification, so that a receiver de-duplicates by it
// (deliveries are at least once); the signature binds the body and a time
// to the secret, so that a receiver that checks it ([Verify]) refuses a
// forged body and a replayed old one. Signing is HMAC-SHA256 from the
// standard library, compared in constant time.
//
// [Deliver] sends one try through an egress guard (package egress): a 2xx
// answer is success, anything else an error worth another try — except a
// destination the guard refuses, which is [outbox.Permanent].
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/outbox"
)

// The headers of a webhook.
const (
	SecretHeader    = "X-PCIVault-Webhook-Secret"
	DeliveryHeader  = "X-Cardvault-Delivery"
	SignatureHeader = "X-Cardvault-Signature"
)

// DefaultTolerance is how far from now Verify accepts a signature's time
// unless told otherwise.
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	// ErrBadSignature: the header is malformed, or no v1 signature in it
	// is the body's under the secret.
	ErrBadSignature = fmt.Errorf("webhook: the signature does not match: %w", cardvault.ErrUnauthorized)
	// ErrStale: the signature's time is further from now than the
	// tolerance — an old request replayed, or a clock far off.
	ErrStale = fmt.Errorf("webhook: the signature's timestamp is outside the tolerance: %w", cardvault.ErrUnauthorized)
)

// Sign returns the X-Cardvault-Signature value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header, an X-Cardvault-Signature value, against body and
// secret, and its time against now: it returns nil when a v1 signature in
// it is the body's and its time is within tolerance of now (DefaultTolerance
// when tolerance is zero).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if len(header) > 1024 {
		return ErrBadSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrBadSignature
		}
		switch k {
		case "t":
			if ts != "" {
				return ErrBadSignature
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return ErrBadSignature
			}
			sigs = append(sigs, b)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrBadSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// Deliver posts body to url through g, signed at now with secret, as
// delivery id. It returns nil on a 2xx answer; an error naming the status
// (or why the request failed, never the URL's path or query) otherwise,
// which is outbox.Permanent when the guard refuses the destination. The
// answer's body is read (at most the guard's cap) and dropped.
func Deliver(ctx context.Context, g *egress.Guard, url, secret, id string, body []byte, now time.Time) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outbox.Permanent(errors.New("webhook: the URL does not make a request"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cardvault-webhook/1")
	req.Header.Set(SecretHeader, secret)
	req.Header.Set(DeliveryHeader, id)
	req.Header.Set(SignatureHeader, Sign(secret, now, body))
	resp, err := g.Do(req)
	if err != nil {
		if errors.Is(err, egress.ErrRefused) || errors.Is(err, egress.ErrInvalidURL) {
			return outbox.Permanent(err)
		}
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook: the endpoint answered %d", resp.StatusCode)
	}
	return nil
}
