package reliability

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/webhook"
)

// The proxy's figures (issue 14), against a fast local payment provider
// (a TLS server on 127.0.0.1 that answers a small JSON object at once) and
// the server in process on bbolt behind a real listener:
//
//	go test -run '^$' -bench BenchmarkProxySyncLatency -benchtime 3000x -count 6 ./internal/reliability
//	go test -run '^$' -bench BenchmarkProxySyncThroughput -benchtime 20000x -count 6 ./internal/reliability
//	go test -run '^$' -bench BenchmarkProxyAsync -benchtime 20000x -count 6 ./internal/reliability
//
// "Direct" is the same client code calling the provider itself with the
// request the proxy renders — what a merchant would do with the card
// number in hand — in the same run, alternating with the proxy calls.

// proxyBench is a server on bbolt, a provider, and the two clients.
type proxyBench struct {
	base     string // the server
	password string // its Basic account's
	psp      string // the provider
	query    string // user, passphrase, token, reference
	direct   *http.Client
	viaVault *http.Client
	call     []byte // the proxy call's body (synchronous or not)
	form     []byte // the rendered request body, for the direct calls
	hooks    *httptest.Server
	got      sync.Map // webhook delivery id → *atomic.Int32
	nHooks   atomic.Int64
}

const benchPSPAnswer = `{"id":"pm_1","object":"payment_method","card":{"brand":"visa","last4":"1111","exp_month":6,"exp_year":2031}}`

func newProxyBench(b *testing.B, clients int) *proxyBench {
	b.Helper()
	pb := &proxyBench{}
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchPSPAnswer)
	}))
	b.Cleanup(psp.Close)
	pb.psp = psp.URL
	hookSecret := "whsec-bench-" + crypto.NewID(8)
	pb.hooks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if webhook.Verify(hookSecret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		n, _ := pb.got.LoadOrStore(r.Header.Get(webhook.DeliveryHeader), new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		pb.nHooks.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(pb.hooks.Close)

	st := teststores.Boltstore.Open(b)
	kr := testkit.Keyring(b)
	u, _ := url.Parse(psp.URL)
	pspGuard := testkit.Guard(b, egress.Config{ExtraRoots: []*x509.Certificate{psp.Certificate()}}, u.Host)
	hookGuard := testkit.Guard(b, egress.Config{AllowHTTP: true}, "127.0.0.1")
	account := access.Account{Name: "bench", Password: "bench-password-" + crypto.NewID(8)}
	pb.password = account.Password
	srv, err := server.New(server.Config{
		Store: st, Keyring: kr, Accounts: []access.Account{account}, WorkFactor: workFactor, SweepEvery: -1,
		Egress: hookGuard, ProxyEgress: pspGuard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	pb.base = hs.URL

	transport := func(tc *tls.Config) *http.Transport {
		return &http.Transport{Proxy: nil, TLSClientConfig: tc, MaxIdleConns: 2 * clients, MaxIdleConnsPerHost: 2 * clients, ForceAttemptHTTP2: false}
	}
	pool := x509.NewCertPool()
	pool.AddCert(psp.Certificate())
	pb.direct = &http.Client{Transport: transport(&tls.Config{RootCAs: pool}), Timeout: 30 * time.Second}
	pb.viaVault = &http.Client{Transport: transport(nil), Timeout: 30 * time.Second}

	// A vault key and a card, as a merchant charges it (its CVV used up
	// by an earlier call, so a charge writes nothing to the store).
	do := func(method, path string, body any) map[string]any {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, pb.base+path, bytes.NewReader(raw))
		req.SetBasicAuth(account.Name, account.Password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := pb.viaVault.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, err)
		}
		return m
	}
	pass := "bench-passphrase-" + crypto.NewID(8)
	do("POST", "/v1/key", map[string]string{"user": "bench", "passphrase": pass})
	item := do("POST", "/v1/vault?user=bench&passphrase="+pass+"&reference=card", map[string]string{
		"card_number": "4111111111111111", "card_holder": "Ada Lovelace", "card_expiry": "06-2031"})
	pb.query = url.Values{"user": {"bench"}, "passphrase": {pass}, "token": {item["token"].(string)}, "reference": {"card"}}.Encode()
	body := "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}"
	call := map[string]any{
		"request": map[string]any{"method": "POST", "url": psp.URL + "/v1/payment_methods", "body": body,
			"headers": []map[string]string{{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_123"}}},
		"webhook": map[string]string{"url": pb.hooks.URL + "/hook", "secret": hookSecret},
	}
	pb.call, _ = json.Marshal(call)
	pb.form = []byte("type=card&card[number]=4111111111111111&card[exp_month]=06&card[exp_year]=2031")
	b.Cleanup(func() { pb.direct.CloseIdleConnections(); pb.viaVault.CloseIdleConnections() })
	return pb
}

// callDirect is the provider called with the rendered request.
func (pb *proxyBench) callDirect() error {
	req, _ := http.NewRequest("POST", pb.psp+"/v1/payment_methods", bytes.NewReader(pb.form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer sk_test_123")
	return pb.send(pb.direct, req, http.StatusOK)
}

// callProxy is POST /v1/proxy/post, synchronous or not.
func (pb *proxyBench) callProxy(sync bool) error {
	q := pb.query
	want := http.StatusAccepted
	if sync {
		q += "&synchronous=true"
		want = http.StatusOK
	}
	req, _ := http.NewRequest("POST", pb.base+"/v1/proxy/post?"+q, bytes.NewReader(pb.call))
	req.SetBasicAuth("bench", pb.password)
	req.Header.Set("Content-Type", "application/json")
	return pb.send(pb.viaVault, req, want)
}

func (pb *proxyBench) send(hc *http.Client, req *http.Request, want int) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%d: %.200s", resp.StatusCode, body)
	}
	return nil
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

// BenchmarkProxySyncLatency: one client, a direct call and a synchronous
// proxy call per iteration, in alternating order; the p50 and p99 of
// each, and the p50 the proxy adds (goal: ≤ 1 ms).
func BenchmarkProxySyncLatency(b *testing.B) {
	pb := newProxyBench(b, 1)
	var direct, proxied []time.Duration
	measure := func(f func() error, into *[]time.Duration) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}
	for range 50 { // warm both connection pools and the key cache
		_ = pb.callDirect()
		_ = pb.callProxy(true)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			measure(pb.callDirect, &direct)
			measure(func() error { return pb.callProxy(true) }, &proxied)
		} else {
			measure(func() error { return pb.callProxy(true) }, &proxied)
			measure(pb.callDirect, &direct)
		}
	}
	slices.Sort(direct)
	slices.Sort(proxied)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(percentile(direct, 0.5)), "direct-p50-µs")
	b.ReportMetric(us(percentile(proxied, 0.5)), "proxy-p50-µs")
	b.ReportMetric(us(percentile(proxied, 0.5)-percentile(direct, 0.5)), "added-p50-µs")
	b.ReportMetric(us(percentile(direct, 0.99)), "direct-p99-µs")
	b.ReportMetric(us(percentile(proxied, 0.99)), "proxy-p99-µs")
}

// parallel runs n requests with clients goroutines and returns the rate.
func parallel(b *testing.B, clients, n int, f func() error) float64 {
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := f(); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkProxySyncThroughput: 64 clients; b.N direct calls, then b.N
// synchronous proxy calls, then again, in rounds of b.N/4; the rates and
// the proxy's share of the direct rate (goal: ≥ 50 %), and the CPU time
// the process spent per call of each kind (client, vault and provider
// together, all in this process): a figure the load of others' runs on a
// shared machine moves far less than the rates.
func BenchmarkProxySyncThroughput(b *testing.B) {
	const clients = 64
	pb := newProxyBench(b, clients)
	parallel(b, clients, 2*clients, pb.callDirect)
	parallel(b, clients, 2*clients, func() error { return pb.callProxy(true) })
	round := max(b.N/4, clients)
	var directRates, proxyRates, directCPU, proxyCPU []float64
	perCall := func(from, to time.Duration) float64 {
		return float64(to-from) / float64(time.Microsecond) / float64(round)
	}
	b.ResetTimer()
	for range 4 {
		c0, ok0 := processCPU()
		directRates = append(directRates, parallel(b, clients, round, pb.callDirect))
		c1, ok1 := processCPU()
		proxyRates = append(proxyRates, parallel(b, clients, round, func() error { return pb.callProxy(true) }))
		c2, ok2 := processCPU()
		if ok0 && ok1 && ok2 {
			directCPU, proxyCPU = append(directCPU, perCall(c0, c1)), append(proxyCPU, perCall(c1, c2))
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return (s[1] + s[2]) / 2 }
	b.ReportMetric(med(directRates), "direct-req/s")
	b.ReportMetric(med(proxyRates), "proxy-req/s")
	b.ReportMetric(100*med(proxyRates)/med(directRates), "proxy-%-of-direct")
	if len(proxyCPU) == 4 {
		b.ReportMetric(med(directCPU), "direct-cpu-µs/call")
		b.ReportMetric(med(proxyCPU), "proxy-cpu-µs/call")
	}
}

// BenchmarkProxyAsync: 64 clients send b.N asynchronous proxy calls; the
// rate they are accepted at (202; goal ≥ 2,000/s on bbolt), and the rate
// from the first acceptance to the last webhook, each call's webhook
// arriving once.
func BenchmarkProxyAsync(b *testing.B) {
	const clients = 64
	pb := newProxyBench(b, clients)
	b.ResetTimer()
	start := time.Now()
	accepted := parallel(b, clients, b.N, func() error { return pb.callProxy(false) })
	deadline := time.Now().Add(10 * time.Minute)
	for pb.nHooks.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d webhooks delivered in 10 minutes", pb.nHooks.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	delivered := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()
	time.Sleep(200 * time.Millisecond) // a second delivery of one would come now
	ids := 0
	pb.got.Range(func(_, v any) bool {
		ids++
		if n := v.(*atomic.Int32).Load(); n != 1 {
			b.Errorf("a call's webhook arrived %d times", n)
		}
		return true
	})
	if ids != b.N {
		b.Fatalf("%d calls' webhooks for %d calls", ids, b.N)
	}
	b.ReportMetric(accepted, "accepted-jobs/s")
	b.ReportMetric(delivered, "delivered-jobs/s")
}
