// Package testkit is what the tests of several packages share: a settable
// clock, a log sink safe for concurrent writers, a registry of the secrets
// a test run used, to look for in its logs, errors and metrics, and a
// check that a text holds none of a test's secrets (RequireNoSecret); master
// keyrings; calls run at once (Concurrently, Race) and the parallel
// benchmark loop; a list for what a test server received; the header of a
// test's HTTP request (SetHeader); a raw TCP server (Listen); the real
// egress guard with a test's allow entries (Guard) and the root its TLS
// test servers need (HTTPTestCert); a loop run until the test ends
// (Background); a bit flipped in every copy of a marker in a file
// (FlipEvery); and readers of JSON objects and of an InvalidError's
// fields.
//
// It is imported by tests only.
package testkit

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Clock is a clock a test sets. The zero value reads as the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass it as a Config's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Buffer is a bytes.Buffer for many writers: the sink of a test's logs.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Secrets registers the secrets a test run used — passphrases, capture
// secrets, passwords, API keys, access tokens, card numbers, CVVs — so
// that logs and replies can be scanned for them. The zero value is ready.
type Secrets struct {
	mu   sync.Mutex
	list []secret
}

type secret struct{ kind, value string }

// Add registers value, a secret of the given kind, and returns it. A value
// shorter than 8 bytes (a CVV) is registered in the contexts it travels in
// — "kind":"v", kind=v, "kind": "v" — since a few digits occur in logs by
// chance.
func (s *Secrets) Add(kind, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(value) < 8 {
		for _, c := range []string{`"` + kind + `":"` + value + `"`, kind + "=" + value, kind + `": "` + value + `"`} {
			s.list = append(s.list, secret{kind, c})
		}
		return value
	}
	s.list = append(s.list, secret{kind, value})
	return value
}

// Found describes each registered secret that text contains, by number
// and kind, never by value.
func (s *Secrets) Found(text string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for i, sec := range s.list {
		if strings.Contains(text, sec.value) {
			out = append(out, fmt.Sprintf("secret #%d (%s)", i, sec.kind))
		}
	}
	return out
}

// Len returns how many values are registered.
func (s *Secrets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// RequireNoSecret fails t when text holds any of secrets. The message
// names the secret by its length, never by its value, and does not print
// text: a failing test's output is read too.
func RequireNoSecret(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.False(t, strings.Contains(text, s), "it holds a secret (%d bytes)", len(s))
	}
}

// StringsOf returns the string values (not the member names) of a JSON
// document that are at least minLen bytes long, to look for in errors that
// must never hold a value of the document. It returns nil for invalid JSON.
func StringsOf(doc []byte, minLen int) []string {
	if !gjson.ValidBytes(doc) {
		return nil
	}
	var out []string
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.IsObject() || v.IsArray():
			v.ForEach(func(_, e gjson.Result) bool {
				walk(e)
				return true
			})
		case v.Type == gjson.String && len(v.Str) >= minLen:
			out = append(out, v.Str)
		}
	}
	walk(gjson.ParseBytes(doc))
	return out
}
