package access

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
)

func TestFailureLimitsConfig(t *testing.T) {
	_, err := NewLimits(FailureLimits{ClientCaptures: FailureLimit{Failures: 5}}, time.Now)
	require.Error(t, err, "a limit without a period")
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	l, err := NewLimits(FailureLimits{ClientCaptures: FailureLimit{Failures: -1}}, testkit.NewClock(time.Now()).Now)
	require.NoError(t, err)
	require.Nil(t, l.clientCapture, "off")
	require.NotNil(t, l.clientCreds, "the others take their defaults")
}

// TestLimits: each kind of guess counts against its client and its account
// or vault key; an account's limit holds back only clients that failed.
func TestLimits(t *testing.T) {
	per := FailureLimit{Failures: 2, Per: 2 * time.Minute}
	for _, tc := range []struct {
		name   string
		fail   func(l *Limits, client string)
		wait   func(l *Limits, client string) time.Duration
		others func(l *Limits, client string) time.Duration // the same account or key, another client
	}{
		{"credentials",
			func(l *Limits, c string) { l.CredentialsFailed(c, "alice") },
			func(l *Limits, c string) time.Duration { return l.CredentialsWait(c, "alice") },
			func(l *Limits, c string) time.Duration { return l.CredentialsWait(c, "alice") }},
		{"API keys",
			func(l *Limits, c string) { l.APIKeyFailed(c) },
			func(l *Limits, c string) time.Duration { return l.APIKeyWait(c) },
			func(l *Limits, c string) time.Duration { return l.APIKeyWait(c) }},
		{"passphrases",
			func(l *Limits, c string) { l.PassphraseFailed(c, "alice", "k") },
			func(l *Limits, c string) time.Duration { return l.PassphraseWait(c, "alice", "k") },
			func(l *Limits, c string) time.Duration { return l.PassphraseWait(c, "alice", "k") }},
		{"captures",
			func(l *Limits, c string) { l.CaptureFailed(c) },
			func(l *Limits, c string) time.Duration { return l.CaptureWait(c) },
			nil},
	} {
		clock := testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		l, err := NewLimits(FailureLimits{ClientCredentials: per, AccountCredentials: per, ClientPassphrases: per,
			KeyPassphrases: per, ClientCaptures: per}, clock.Now)
		require.NoError(t, err)
		tc.fail(l, "a")
		require.Zero(t, tc.wait(l, "a"), tc.name)
		tc.fail(l, "a")
		require.Equal(t, time.Minute, tc.wait(l, "a"), tc.name)
		require.Zero(t, tc.wait(l, "b"), "%s: another client", tc.name)
		if tc.others != nil {
			tc.fail(l, "b")
			require.Equal(t, 2*time.Minute, tc.others(l, "b"), "%s: a client that failed waits for the account", tc.name)
			require.Zero(t, tc.others(l, "c"), "%s: a client that never failed does not", tc.name)
		}
		clock.Advance(2 * time.Minute)
		require.Zero(t, tc.wait(l, "a"), "%s: the counts drain", tc.name)
	}
}

func TestClientOf(t *testing.T) {
	for remote, want := range map[string]string{
		"192.0.2.1:1234":               "192.0.2.1",
		"[::ffff:192.0.2.1]:80":        "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:443":   "2001:db8:1:2::/64",
		"[fe80::1%eth0]:1":             "fe80::/64",
		"192.0.2.1":                    "192.0.2.1",
		"not an address":               "not an address",
		"[2001:db8:1:3::1]:443":        "2001:db8:1:3::/64",
		"[::1]:8080":                   "::/64",
		"127.0.0.1:8080":               "127.0.0.1",
		"[2001:0db8:0001:0002::9]:443": "2001:db8:1:2::/64",
	} {
		require.Equal(t, want, ClientOf(remote), remote)
	}
}
