package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/webhook"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1764700000, 0)
	body := []byte(`{"a":1}`)
	sig := webhook.Sign("s3cret", now, body)
	require.Regexp(t, `^t=1764700000,v1=[0-9a-f]{64}$`, sig)
	require.NoError(t, webhook.Verify("s3cret", sig, body, now, 0))
	require.NoError(t, webhook.Verify("s3cret", sig, body, now.Add(4*time.Minute), 0))
	require.NoError(t, webhook.Verify("s3cret", "v1=00"+strings.Repeat("0", 62)+","+sig, body, now, 0), "any v1 may match")

	for name, c := range map[string]struct {
		secret, header, body string
		at                   time.Time
		want                 error
	}{
		"other secret":  {"other", sig, `{"a":1}`, now, webhook.ErrBadSignature},
		"other body":    {"s3cret", sig, `{"a":2}`, now, webhook.ErrBadSignature},
		"stale":         {"s3cret", sig, `{"a":1}`, now.Add(6 * time.Minute), webhook.ErrStale},
		"future":        {"s3cret", sig, `{"a":1}`, now.Add(-6 * time.Minute), webhook.ErrStale},
		"empty":         {"s3cret", "", `{"a":1}`, now, webhook.ErrBadSignature},
		"no v1":         {"s3cret", "t=1764700000", `{"a":1}`, now, webhook.ErrBadSignature},
		"bad hex":       {"s3cret", "t=1764700000,v1=zz", `{"a":1}`, now, webhook.ErrBadSignature},
		"two times":     {"s3cret", "t=1,t=1764700000," + sig[strings.Index(sig, "v1="):], `{"a":1}`, now, webhook.ErrBadSignature},
		"time changed":  {"s3cret", "t=1764700001" + sig[strings.Index(sig, ","):], `{"a":1}`, now, webhook.ErrBadSignature},
		"huge":          {"s3cret", strings.Repeat("v1=00,", 400), `{"a":1}`, now, webhook.ErrBadSignature},
		"not key=value": {"s3cret", "garbage", `{"a":1}`, now, webhook.ErrBadSignature},
	} {
		require.ErrorIs(t, webhook.Verify(c.secret, c.header, []byte(c.body), c.at, 0), c.want, name)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1764700000, 0)
	f.Add(webhook.Sign("k", now, []byte("b")), []byte("b"))
	f.Add("t=1,v1=", []byte(""))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := webhook.Verify("k", header, body, now, time.Hour)
		if err == nil {
			// Only a signature made with the key verifies.
			require.Contains(t, header, "v1=")
		}
	})
}

func TestDeliver(t *testing.T) {
	var got atomic.Value
	var status atomic.Int32
	status.Store(204)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.Store(r.Header.Clone())
		require.NoError(t, webhook.Verify("hook-secret", r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0))
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	g := testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
	ctx := context.Background()

	require.NoError(t, webhook.Deliver(ctx, g, srv.URL+"/hook?token=abc", "hook-secret", "id-1", []byte(`{"x":1}`), time.Now()))
	h := got.Load().(http.Header)
	require.Equal(t, "hook-secret", h.Get(webhook.SecretHeader))
	require.Equal(t, "id-1", h.Get(webhook.DeliveryHeader))
	require.Equal(t, "application/json", h.Get("Content-Type"))

	status.Store(500)
	err := webhook.Deliver(ctx, g, srv.URL+"/hook?token=abc", "hook-secret", "id-1", []byte(`{"x":1}`), time.Now())
	require.ErrorContains(t, err, "500")
	require.False(t, isPermanent(err), "a 500 is worth another try")
	require.NotContains(t, err.Error(), "token=abc")

	// A destination the guard refuses is not worth another try; nothing
	// reaches it.
	strict, err := egress.New(egress.Config{AllowHTTP: true})
	require.NoError(t, err)
	err = webhook.Deliver(ctx, strict, srv.URL+"/hook?token=abc", "hook-secret", "id-2", []byte(`{}`), time.Now())
	require.ErrorIs(t, err, egress.ErrRefused)
	require.True(t, isPermanent(err))
	require.NotContains(t, err.Error(), "token=abc")
	require.Equal(t, "id-1", got.Load().(http.Header).Get(webhook.DeliveryHeader), "the refused delivery never arrived")
}

func isPermanent(err error) bool { return outbox.IsPermanent(err) }
