package reliability

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/webhook"
)

// The tests of this file prove the durable side effects of issue 13 on the
// real binary: webhooks queued in the capture's transaction survive a
// SIGKILL, an idempotent request never runs twice, and two processes on
// one PostgreSQL share the outbox without running a job in two places.

// webhookEnv is what the servers need to deliver webhooks to a receiver
// on 127.0.0.1: the real egress guard, with that address allowed.
var webhookEnv = []string{"CARDVAULT_EGRESS_ALLOW=127.0.0.1", "CARDVAULT_ALLOW_HTTP_WEBHOOKS=true"}

// receiver is a merchant's webhook endpoint: it records each delivery by
// the capture's reference and delivery id, and can hold deliveries open.
type receiver struct {
	*httptest.Server
	secret  string
	mu      sync.Mutex
	byRef   map[string]int // reference → deliveries
	byID    map[string]int // delivery id → deliveries
	active  map[string]int // delivery id → deliveries in progress
	overlap atomic.Int32   // a delivery id seen twice at once
	delay   time.Duration
	hold    chan struct{} // when not nil, deliveries wait on it
	held    atomic.Int32
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{secret: secret, byRef: map[string]int{}, byID: map[string]int{}, active: map[string]int{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	// Deliveries still held when a test fails would keep Close waiting
	// for their handlers until the package's timeout: let them go first.
	t.Cleanup(func() {
		rc.release()
		rc.Close()
	})
	return rc
}

// release lets the held deliveries go and holds no more.
func (rc *receiver) release() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.hold != nil {
		close(rc.hold)
		rc.hold = nil
	}
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get(webhook.SecretHeader) != rc.secret ||
		webhook.Verify(rc.secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	id := r.Header.Get(webhook.DeliveryHeader)
	rc.mu.Lock()
	rc.active[id]++
	if rc.active[id] > 1 {
		rc.overlap.Add(1)
	}
	hold := rc.hold
	rc.mu.Unlock()
	if hold != nil {
		rc.held.Add(1)
		<-hold
	}
	time.Sleep(rc.delay)
	var m struct {
		Metadata struct {
			Reference string `json:"reference"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(body, &m)
	rc.mu.Lock()
	rc.active[id]--
	rc.byID[id]++
	rc.byRef[m.Metadata.Reference]++
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) deliveries(ref string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.byRef[ref]
}

// client is what the tests send with: plain HTTP to the servers, each
// request to the next server in turn.
type client struct {
	t       *testing.T
	targets []string
	n       atomic.Int64
	account loadgen.Account
	hc      *http.Client
}

func newClient(t *testing.T, d *deployment, targets ...string) *client {
	return &client{t: t, targets: targets, account: d.account, hc: &http.Client{Timeout: 20 * time.Second}}
}

// send sends a request and returns the status, the body and the replay
// header; status 0 when the request failed (a killed server).
func (c *client) send(method, path string, header map[string]string, body any) (int, []byte, string) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(c.t, err)
		rd = bytes.NewReader(b)
	}
	base := c.targets[int(c.n.Add(1))%len(c.targets)]
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header.Get("Idempotent-Replayed")
}

func (c *client) basic() map[string]string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(c.account.Name, c.account.Password)
	return map[string]string{"Authorization": r.Header.Get("Authorization")}
}

// call sends a request that must be answered want, with a JSON object.
func (c *client) call(want int, method, path string, header map[string]string, payload any) map[string]any {
	c.t.Helper()
	status, body, _ := c.send(method, path, header, payload)
	require.Equal(c.t, want, status, "%s", body)
	return testkit.Object(c.t, body)
}

// webhookEndpoints makes n open capture endpoints of a new vault key, each
// with a webhook to rc.
func (c *client) webhookEndpoints(rc *receiver, n int) (ids, secrets []string) {
	c.t.Helper()
	user, pass := "hooks-"+crypto.NewID(6), secret("passphrase", "pass-"+crypto.NewID(16))
	c.call(http.StatusOK, "POST", "/v1/key", c.basic(), map[string]string{"user": user, "passphrase": pass})
	for range n {
		g := c.call(http.StatusOK, "POST", "/v1/capture?user="+user+"&passphrase="+pass+"&ttl=PT1H", c.basic(),
			map[string]any{"webhook": map[string]string{"url": rc.URL + "/hook", "secret": rc.secret}})
		ids = append(ids, g["id"].(string))
		secrets = append(secrets, secret("capture secret", g["secret"].(string)))
	}
	return ids, secrets
}

// capture posts a new card with reference ref to endpoint id; it reports
// whether the server acknowledged it.
func (c *client) capture(id, sec, ref string) bool {
	st, _, _ := c.send("POST", "/v1/capture/"+id, map[string]string{"X-PCIVault-Capture-Secret": sec},
		map[string]string{"card_number": "4242424242424242", "reference": ref})
	return st == http.StatusOK
}

func (c *client) bearer(apiKey string) map[string]string {
	c.t.Helper()
	m := c.call(http.StatusOK, "POST", "/authorize", map[string]string{"x-api-key": apiKey}, nil)
	return map[string]string{"Authorization": "Bearer " + secret("bearer token", m["access_token"].(string))}
}

// TestCrashKeepsSideEffects: SIGKILL in the middle of captures with
// webhooks and of idempotent PATCHes, on bbolt and PostgreSQL. After a
// restart every acknowledged capture's webhook arrives (at least once),
// and every PATCH sent again with its key — acknowledged or not — has
// taken effect exactly once.
func TestCrashKeepsSideEffects(t *testing.T) {
	onEachBackend(t, func(t *testing.T, pg string) {
		d := newDeployment(t, pg)
		// The jobs the killed process had claimed wait for their
		// leases to run out: short ones keep the test short.
		d.env = append([]string{"CARDVAULT_OUTBOX_LEASE=4s"}, webhookEnv...)
		p := d.start()
		c := newClient(t, d, p.URL)
		rc := newReceiver(t, secret("webhook secret", "whsec-"+crypto.NewID(12)))
		const writers = 6
		ids, secs := c.webhookEndpoints(rc, writers)
		auth := c.bearer(d.apiKey)
		tokens := make([]string, writers)
		for i := range tokens {
			body := map[string]any{"customFields": []map[string]string{{"name": "created", "value": "yes"}}, "source": map[string]any{"type": "card", "cardDetails": map[string]any{
				"entryMethod": "keyed", "cardholderName": "Crash Test", "keyedData": map[string]any{"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1230"}}}}
			h := map[string]string{"Idempotency-Key": loadgen.NewIdempotencyKey()}
			for k, v := range auth {
				h[k] = v
			}
			m := c.call(http.StatusCreated, "POST", "/v1/processing-terminals/"+terminalOne+"/secure-tokens", h, body)
			tokens[i] = m["secureTokenId"].(string)
		}

		// Load: each writer captures with new references and patches
		// its secure token under new keys, until the kill.
		var mu sync.Mutex
		var acked []string          // capture references acknowledged
		sent := map[string]string{} // patch key → its token
		ackedKeys := map[string]bool{}
		var stop atomic.Bool
		var wg sync.WaitGroup
		var progress atomic.Int32
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; !stop.Load(); i++ {
					ref := fmt.Sprintf("crash-%d-%d", w, i)
					if c.capture(ids[w], secs[w], ref) {
						mu.Lock()
						acked = append(acked, ref)
						mu.Unlock()
					}
					key := loadgen.NewIdempotencyKey()
					mu.Lock()
					sent[key] = tokens[w]
					mu.Unlock()
					if st, _, _ := c.patch(auth, tokens[w], key); st == http.StatusOK {
						mu.Lock()
						ackedKeys[key] = true
						mu.Unlock()
					}
					progress.Add(1)
				}
			}()
		}
		waitFor(t, 30*time.Second, "the load to make progress", func() bool { return progress.Load() >= 60 })
		p.Kill()
		stop.Store(true)
		wg.Wait()
		mu.Lock()
		t.Logf("before the kill: %d captures and %d of %d patches acknowledged", len(acked), len(ackedKeys), len(sent))
		mu.Unlock()

		p = d.start()
		c.targets = []string{p.URL}
		waitFor(t, 60*time.Second, "every acknowledged capture's webhook", func() bool {
			for _, ref := range acked {
				if rc.deliveries(ref) == 0 {
					return false
				}
			}
			return true
		})

		// Every patch again, with its key: the acknowledged ones are
		// replays, and each key's field is there exactly once.
		for key, tok := range sent {
			st, body, replayed := c.patch(auth, tok, key)
			require.Equal(t, http.StatusOK, st, "%s", body)
			if ackedKeys[key] {
				require.Equal(t, "true", replayed, "an acknowledged request is not run again")
			}
		}
		for _, tok := range tokens {
			_, body, _ := c.send("GET", "/v1/processing-terminals/"+terminalOne+"/secure-tokens/"+tok, auth, nil)
			var res struct {
				CustomFields []struct{ Name string } `json:"customFields"`
			}
			require.NoError(t, json.Unmarshal(body, &res))
			seen := map[string]int{}
			for _, f := range res.CustomFields {
				seen[f.Name]++
			}
			for key, kt := range sent {
				if kt == tok {
					require.Equal(t, 1, seen[key], "patch %s took effect once", key)
				}
			}
		}
		require.Zero(t, rc.overlap.Load())
	})
}

// patch appends a custom field named after key to the secure token tok,
// under Idempotency-Key key.
func (c *client) patch(auth map[string]string, tok, key string) (int, []byte, string) {
	h := map[string]string{"Idempotency-Key": key}
	for k, v := range auth {
		h[k] = v
	}
	return c.send("PATCH", "/v1/processing-terminals/"+terminalOne+"/secure-tokens/"+tok, h,
		[]map[string]any{{"op": "add", "path": "/customFields/-", "value": map[string]string{"name": key, "value": "once"}}})
}

// TestTwoServersShareTheOutbox: two processes on one PostgreSQL deliver
// every webhook, never one delivery in two places at once; then one of
// them is killed while it holds a delivery open, and the other takes the
// job over once the lease runs out.
func TestTwoServersShareTheOutbox(t *testing.T) {
	d := newDeployment(t, pgtest.URL(t))
	d.env = append([]string{"CARDVAULT_OUTBOX_LEASE=4s"}, webhookEnv...)
	p1, p2 := d.start(), d.start()
	c := newClient(t, d, p1.URL, p2.URL)
	rc := newReceiver(t, secret("webhook secret", "whsec-"+crypto.NewID(12)))
	rc.delay = 5 * time.Millisecond
	ids, secs := c.webhookEndpoints(rc, 8)
	var refs []string
	var mu sync.Mutex
	testkit.Concurrently(t, len(ids), func(w int) error {
		for i := range 25 {
			ref := fmt.Sprintf("two-%d-%d", w, i)
			if !c.capture(ids[w], secs[w], ref) {
				return fmt.Errorf("the capture %s was not acknowledged", ref)
			}
			mu.Lock()
			refs = append(refs, ref)
			mu.Unlock()
		}
		return nil
	})
	waitFor(t, 60*time.Second, "every webhook", func() bool {
		for _, ref := range refs {
			if rc.deliveries(ref) == 0 {
				return false
			}
		}
		return true
	})
	require.Zero(t, rc.overlap.Load(), "no delivery ran in two places at once")
	rc.mu.Lock()
	for id, n := range rc.byID {
		require.Equal(t, 1, n, "delivery %s arrived once: no process failed, so none was tried twice", id)
	}
	rc.mu.Unlock()

	// One delivery, held open by the receiver, while only p1 runs; p1 is
	// killed mid-delivery, p2 takes the job over when the lease ends.
	p2.Kill()
	rc.mu.Lock()
	rc.hold = make(chan struct{})
	rc.mu.Unlock()
	c.targets = []string{p1.URL}
	require.True(t, c.capture(ids[0], secs[0], "held"))
	waitFor(t, 20*time.Second, "p1 to hold the delivery", func() bool { return rc.held.Load() >= 1 })
	p1.Kill()
	rc.release()
	killed := time.Now()
	p2 = d.start()
	waitFor(t, 30*time.Second, "the delivery to be taken over", func() bool { return rc.deliveries("held") >= 2 })
	t.Logf("taken over %v after the kill (lease 4 s)", time.Since(killed).Round(100*time.Millisecond))
	_ = p2
}
