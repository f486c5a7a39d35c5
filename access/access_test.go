package access

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
)

func TestParseAccounts(t *testing.T) {
	got, err := ParseAccounts("user:a-long-password-0001,u2:p:with:colons:and:more")
	require.NoError(t, err)
	require.Equal(t, []Account{{"user", "a-long-password-0001"}, {"u2", "p:with:colons:and:more"}}, got)

	pw := "0123456789abcdef"
	for _, bad := range []string{"", "user", "user:", ":" + pw, "a:" + pw + ",a:" + pw + "x", "a b:" + pw, "u:" + pw + ",", ",u:" + pw, strings.Repeat("u", 129) + ":" + pw} {
		_, err := ParseAccounts(bad)
		require.Error(t, err, "%q", bad)
	}
	_, err = ParseAccounts("alice:hunter2-secret-long,alice:other-long-password")
	require.NotContains(t, err.Error(), "hunter2", "errors never repeat a password")

	// A password has 16 characters at least (characters, not bytes); the
	// error says so, and not what it was.
	for _, short := range []string{"u:hunter2", "u:Q", "u:0123456789abcde", "u:" + strings.Repeat("é", 15)} {
		_, err := ParseAccounts(short)
		require.ErrorContains(t, err, "the password must be at least 16 characters", "%q", short)
		require.NotContains(t, err.Error(), short[2:])
	}
	_, err = ParseAccounts("u:" + strings.Repeat("é", 16))
	require.NoError(t, err)
	_, err = NewAccounts([]Account{{Name: "u", Password: "password"}})
	require.ErrorContains(t, err, "at least 16 characters", "a library user's accounts are held to it too")
}

func TestParseAPIKeys(t *testing.T) {
	k1, k2 := "k1-0123456789abcdef", "k2-0123456789abcdef"
	got, err := ParseAPIKeys(k1 + ":1234001,1234002;" + k2 + ":*")
	require.NoError(t, err)
	require.Equal(t, []APIKey{{k1, []string{"1234001", "1234002"}}, {k2, []string{"*"}}}, got)

	for _, bad := range []string{"", k1, k1 + ":", ":1234001", k1 + ":123", k1 + ":*,1234001", k1 + ":1234001;" + k1 + ":1234002",
		k1 + ":12/34001", "k 1-0123456789abcdef:1234001", k1 + ":1234001;"} {
		_, err := ParseAPIKeys(bad)
		require.Error(t, err, "%q", bad)
	}
	_, err = ParseAPIKeys("sekrit-key-value:12")
	require.NotContains(t, err.Error(), "sekrit")

	// A key has 16 characters at least; the error does not repeat it.
	_, err = ParseAPIKeys("an-api-key:1234001")
	require.ErrorContains(t, err, "API key 1 must be at least 16 characters")
	require.NotContains(t, err.Error(), "an-api-key")
	_, err = NewKeys([]APIKey{{Key: "short-key", Terminals: []string{"*"}}}, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
	require.ErrorContains(t, err, "at least 16 characters")
}

func FuzzParseAPIKeys(f *testing.F) {
	for _, s := range []string{"k1:1234001,1234002;k2:*", "k:*", ";;", "a:b:c", "k1:1234001;k1:1234001", "k1-0123456789abcdef:1234001,1234002;k2-0123456789abcdef:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseAPIKeys(s)
		if err != nil {
			return
		}
		// What parses makes an authenticator, and each key authenticates.
		a, err := NewKeys(keys, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
		require.NoError(t, err)
		for _, k := range keys {
			c, ok := a.Lookup(k.Key)
			require.True(t, ok)
			for _, term := range k.Terminals {
				require.True(t, c.MayUse(term) || term == "*")
			}
		}
	})
}

func FuzzParseAccounts(f *testing.F) {
	for _, s := range []string{"user:password", "a:b,c:d", "a:b:c", ",", "a:b,a:c", "user:a-password-of-16+", "a:0123456789abcdef,b:0123456789abcdef:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		accounts, err := ParseAccounts(s)
		if err != nil {
			return
		}
		a, err := NewAccounts(accounts)
		require.NoError(t, err)
		for _, acc := range accounts {
			name, ok := a.Check(acc.Name, acc.Password)
			require.True(t, ok)
			require.Equal(t, acc.Name, name)
			require.Equal(t, acc.Name, a.Named(acc.Name))
			name, ok = a.Check(acc.Name, acc.Password+"x")
			require.False(t, ok)
			require.Equal(t, acc.Name, name, "a wrong password names the account it counts against")
		}
	})
}

func FuzzVerifyBearer(f *testing.F) {
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := NewKeys([]APIKey{{Key: "ak_all_9c1e5a0b7d3f4e2a8b6c", Terminals: []string{"*"}}}, hasher, time.Hour, func() time.Time { return now })
	require.NoError(f, err)
	c, _ := a.Lookup("ak_all_9c1e5a0b7d3f4e2a8b6c")
	good, _ := a.Issue(c)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("a.b.c")
	f.Add(bearerHeader + ".e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		got, ok := a.Verify(tok)
		if ok {
			// Only the genuine token (or one equal to it) verifies.
			require.Equal(t, good, tok)
			require.Equal(t, c, got)
		}
	})
}

// TestErrorsAreInvalid: every refusal of a configuration is an ErrInvalid,
// a cardvault.ErrInvalid, and repeats no secret.
func TestErrorsAreInvalid(t *testing.T) {
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	const secret = "sekrit-0123456789abcdef"
	for name, f := range map[string]func() error{
		"parse accounts": func() error { _, err := ParseAccounts("u:" + secret + ",u:" + secret); return err },
		"parse keys":     func() error { _, err := ParseAPIKeys(secret + ":12"); return err },
		"short password": func() error { _, err := NewAccounts([]Account{{"u", "sekrit"}}); return err },
		"repeated name":  func() error { _, err := NewAccounts([]Account{{"u", secret}, {"u", secret + "x"}}); return err },
		"no terminals":   func() error { _, err := NewKeys([]APIKey{{Key: secret}}, hasher, time.Hour, time.Now); return err },
		"key twice": func() error {
			_, err := NewKeys([]APIKey{{secret, []string{"*"}}, {secret, []string{"1234001"}}}, hasher, time.Hour, time.Now)
			return err
		},
		"short ttl": func() error { _, err := NewKeys(nil, hasher, time.Millisecond, time.Now); return err },
	} {
		err := f()
		require.ErrorIs(t, err, ErrInvalid, name)
		require.ErrorIs(t, err, cardvault.ErrInvalid, name)
		require.NotContains(t, err.Error(), "sekrit", name)
	}
}

// TestVerify: a token verifies until its exp, exactly, from a clock at most
// a minute behind its issuer's, and only while its key is configured.
func TestVerify(t *testing.T) {
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := APIKey{Key: "ak_0123456789abcdef", Terminals: []string{"1234001"}}
	issuer, err := NewKeys([]APIKey{key}, hasher, time.Hour, func() time.Time { return issued })
	require.NoError(t, err)
	c, ok := issuer.Lookup(key.Key)
	require.True(t, ok)
	token, ttl := issuer.Issue(c)
	require.Equal(t, int64(3600), ttl)

	for _, tc := range []struct {
		name string
		at   time.Duration // the verifier's clock, from issued
		keys []APIKey
		ok   bool
	}{
		{"now", 0, []APIKey{key}, true},
		{"a second before exp", time.Hour - time.Second, []APIKey{key}, true},
		{"at exp", time.Hour, []APIKey{key}, false},
		{"clock a minute behind", -time.Minute, []APIKey{key}, true},
		{"clock more than a minute behind", -time.Minute - time.Second, []APIKey{key}, false},
		{"key removed", 0, nil, false},
	} {
		at := issued.Add(tc.at)
		verifier, err := NewKeys(tc.keys, hasher, time.Hour, func() time.Time { return at })
		require.NoError(t, err)
		got, ok := verifier.Verify(token)
		require.Equal(t, tc.ok, ok, tc.name)
		if ok {
			require.Equal(t, c.ID, got.ID, tc.name)
		}
	}
	other, err := NewKeys([]APIKey{key}, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, func() time.Time { return issued })
	require.NoError(t, err)
	_, ok = other.Verify(token)
	require.False(t, ok, "another deployment's key")
	_, ok = issuer.Verify(strings.Repeat("a", 2000))
	require.False(t, ok)
}

func TestIssueToken(t *testing.T) {
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want int64
	}{
		{"an hour", time.Hour, 3600},
		{"a day", 24 * time.Hour, 86400},
		{"none: the default", 0, int64(DefaultBearerTTL / time.Second)},
		{"below zero: the default", -time.Minute, int64(DefaultBearerTTL / time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := NewKeys([]APIKey{{Key: "ak_0123456789abcdef", Terminals: []string{"*"}}}, hasher, tc.ttl, func() time.Time { return issued })
			require.NoError(t, err)
			c, ok := keys.Lookup("ak_0123456789abcdef")
			require.True(t, ok)
			tok := keys.IssueToken(c)
			require.Equal(t, tc.want, tok.ExpiresIn)
			require.Equal(t, Scope, tok.Scope)
			require.Equal(t, "Bearer", tok.TokenType)
			got, ok := keys.Verify(tok.AccessToken)
			require.True(t, ok)
			require.Equal(t, c.ID, got.ID)
		})
	}
}
