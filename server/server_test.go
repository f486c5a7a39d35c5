package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestNewRefusesBadConfig(t *testing.T) {
	kr := testkit.Keyring(t)
	for name, cfg := range map[string]Config{
		"no store":          {Keyring: kr},
		"no keyring":        {Store: memstore.New()},
		"relative public":   {Store: memstore.New(), Keyring: kr, PublicURL: "vault.example"},
		"public with query": {Store: memstore.New(), Keyring: kr, PublicURL: "https://vault.example/?a=b"},
		"ftp public":        {Store: memstore.New(), Keyring: kr, PublicURL: "ftp://vault.example"},
		"short bearer":      {Store: memstore.New(), Keyring: kr, BearerTTL: time.Millisecond},
		"short idempotency": {Store: memstore.New(), Keyring: kr, IdempotencyTTL: time.Hour},
		"duplicate account": {Store: memstore.New(), Keyring: kr, Accounts: []access.Account{aliceBasic, aliceBasic}},
		"key without terms": {Store: memstore.New(), Keyring: kr, APIKeys: []access.APIKey{{Key: "k"}}},
		"bad terminal":      {Store: memstore.New(), Keyring: kr, APIKeys: []access.APIKey{{Key: "k", Terminals: []string{"ab"}}}},
	} {
		_, err := New(cfg)
		require.Error(t, err, name)
	}
	// Another master key does not open the deployment's server key.
	st := memstore.New()
	_, err := New(Config{Store: st, Keyring: kr, Logger: testLogger(false)})
	require.NoError(t, err)
	other := testkit.Keyring(t)
	_, err = New(Config{Store: st, Keyring: other, Logger: testLogger(false)})
	require.ErrorContains(t, err, "does not open with this master key")
}

func TestSweepLoop(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SweepEvery = 10 * time.Millisecond })
	k := e.newKey("sweepy")
	e.alice("POST", "/v1/capture", k.query("unique_id", "short-lived", "ttl", "PT1M"), "")
	require.Len(t, e.alice("GET", "/v1/capture", url.Values{"user": {"sweepy"}}, "").list(t), 1)
	e.clock.Advance(2 * time.Minute)
	require.Eventually(t, func() bool {
		return len(e.alice("GET", "/v1/capture", url.Values{"user": {"sweepy"}}, "").list(t)) == 0
	}, 5*time.Second, 10*time.Millisecond, "the sweeper removes the expired endpoint")
	// The id is free again.
	require.Equal(t, http.StatusOK, e.alice("POST", "/v1/capture", k.query("unique_id", "short-lived"), "").status)
}

func TestPanicAndShutdown(t *testing.T) {
	e := newEnv(t)
	e.srv.mux.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("boom 4111111111111111") })
	e.srv.mux.HandleFunc("GET /v1/processing-terminals/{pt}/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	r := e.do(req{method: "GET", path: "/test/panic"})
	require.Equal(t, http.StatusInternalServerError, r.status)
	require.Equal(t, "internal error", r.errorText(t))
	r = e.do(req{method: "GET", path: "/v1/processing-terminals/1234001/panic"})
	requireProblem(t, r, 500, "api-error")
	require.NotContains(t, logSink.String(), "4111111111111111")
	require.Contains(t, logSink.String(), "boom [REDACTED]")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, e.srv.Shutdown(ctx))
	require.NoError(t, e.srv.Shutdown(ctx), "Shutdown is idempotent")
}
