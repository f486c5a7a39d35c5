package testkit_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := testkit.NewClock(t0)
	require.Equal(t, t0, c.Now())
	c.Advance(time.Minute)
	require.Equal(t, t0.Add(time.Minute), c.Now())
}

func TestSecrets(t *testing.T) {
	var s testkit.Secrets
	require.Equal(t, "a-long-secret-value", s.Add("passphrase", "a-long-secret-value"))
	s.Add("cvv", "123")
	require.Empty(t, s.Found("nothing here, not even 123"), "a short value counts only in context")
	found := s.Found(`user=x passphrase=a-long-secret-value {"cvv":"123"}`)
	require.Equal(t, []string{"secret #0 (passphrase)", "secret #1 (cvv)"}, found)
	require.NotContains(t, found[0], "a-long-secret-value")
	require.Equal(t, 4, s.Len())

	var b testkit.Buffer
	b.Write([]byte("x"))
	require.Equal(t, "x", b.String())
}
