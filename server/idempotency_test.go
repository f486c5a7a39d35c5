package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
)

// tokenRoute is a dummy secure-token write, answered through writeOnce
// as the real routes are: its work writes a row through the library's
// idempotency.Keeper and counts the runs that committed; it answers 201
// with a Location and a body holding a fresh random value, so that a
// replay is told from a second run.
type tokenRoute struct {
	runs   atomic.Int64
	status atomic.Int64 // 0: 201; 400: a client error; 500: a failure of no kind
	delay  time.Duration
	secret string // a value the response carries, like a single-use token
}

type thing struct {
	Run   int64  `json:"run"`
	Nonce string `json:"nonce"`
	Echo  string `json:"echo"`
	Token string `json:"token"`
}

func (d *tokenRoute) handler(s *Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		writeOnce(s, w, r, func(call *idempotency.Call) (res thing, err error) {
			err = s.deployment.Idempotency.Run(r.Context(), call, &res, func(tx store.Tx) error {
				if d.delay > 0 {
					time.Sleep(d.delay)
				}
				switch d.status.Load() {
				case 400:
					return fmt.Errorf("thing: %w", cardvault.ErrInvalid)
				case 500:
					return errors.New("thing: the disk is on fire")
				}
				res = thing{Run: d.runs.Load() + 1, Nonce: crypto.NewID(12), Echo: string(body), Token: d.secret}
				if err := store.OnCommit(tx, func() { d.runs.Add(1) }); err != nil {
					return err
				}
				return tx.Put("test.things", []byte(res.Nonce), nil)
			})
			return res, err
		}, func(w http.ResponseWriter, res thing, err error) {
			if err != nil {
				s.writeProblemFor(w, r, err, "thing")
				return
			}
			w.Header().Set("Location", "/v1/processing-terminals/"+r.PathValue("processingTerminalId")+"/things/"+res.Nonce)
			w.Header().Set("X-Run", fmt.Sprint(res.Run))
			writeJSON(w, http.StatusCreated, res)
		})
	})
}

func (e *env) tokenRoute(d *tokenRoute) {
	h := d.handler(e.srv)
	e.srv.mux.Handle("POST /v1/processing-terminals/{processingTerminalId}/things", e.srv.secureTokenRoute(h))
	e.srv.mux.Handle("PATCH /v1/processing-terminals/{processingTerminalId}/things/{id}", e.srv.secureTokenRoute(h))
	e.srv.mux.Handle("GET /v1/processing-terminals/{processingTerminalId}/things/{id}", e.srv.secureTokenRoute(h))
}

func (e *env) tokenCall(method, path, token, key, body string, extra ...string) reply {
	e.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + token}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return e.do(req{method: method, path: path, body: body, header: h})
}

func requireProblem(t testing.TB, r reply, status int, anchor string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	m := r.json(t)
	require.Equal(t, DefaultErrorsBaseURL+"#"+anchor, m["type"])
	require.Equal(t, float64(status), m["status"])
	require.NotEmpty(t, m["title"])
	require.NotEmpty(t, m["detail"])
	return m
}

const (
	idemKey1 = "8e03978e-40d5-43e8-bc93-6894a57f9324"
	idemKey2 = "0b8a4b5e-8a0e-4c5e-9f3e-2b7c1d6e5f40"
	thingsA  = "/v1/processing-terminals/1234001/things"
)

func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	d := &tokenRoute{secret: secret("single-use token", "sut-"+strings.Repeat("ab", 30))}
	e.tokenRoute(d)
	tok := e.authorize(keyTwo.Key)

	t.Run("missing or malformed key", func(t *testing.T) {
		m := requireProblem(t, e.tokenCall("POST", thingsA, tok, "", `{}`), 400, "idempotency-key-missing")
		require.Equal(t, "Idempotency-Key header missing", m["title"])
		require.Equal(t, "An 'Idempotency-Key' must be supplied for this request", m["detail"])
		m = requireProblem(t, e.tokenCall("POST", thingsA, tok, "not-a-uuid", `{}`), 400, "idempotency-key-missing")
		require.Contains(t, m["detail"], "UUID v4")
		require.Zero(t, d.runs.Load())
		// GET needs none.
		require.Equal(t, http.StatusCreated, e.tokenCall("GET", thingsA+"/x", tok, "", "").status)
	})

	t.Run("replay byte for byte", func(t *testing.T) {
		before := d.runs.Load()
		first := e.tokenCall("POST", thingsA, tok, idemKey1, `{"a":1}`)
		require.Equal(t, http.StatusCreated, first.status)
		require.Empty(t, first.header.Get(idempotency.ReplayedHeader))
		again := e.tokenCall("POST", thingsA, tok, strings.ToUpper(idemKey1), `{"a":1}`)
		require.Equal(t, before+1, d.runs.Load(), "the handler ran once")
		require.Equal(t, first.status, again.status)
		require.Equal(t, first.body, again.body)
		for _, h := range []string{"Location", "Content-Type", "X-Run", "Cache-Control"} {
			require.Equal(t, first.header.Values(h), again.header.Values(h), h)
		}
		require.Equal(t, "true", again.header.Get(idempotency.ReplayedHeader))
		require.NotEqual(t, first.header.Get("X-Request-Id"), again.header.Get("X-Request-Id"))
	})

	t.Run("same key, another request", func(t *testing.T) {
		before := d.runs.Load()
		for name, r := range map[string]reply{
			"body":   e.tokenCall("POST", thingsA, tok, idemKey1, `{"a":2}`),
			"path":   e.tokenCall("POST", "/v1/processing-terminals/1234002/things", tok, idemKey1, `{"a":1}`),
			"method": e.tokenCall("PATCH", thingsA+"/x", tok, idemKey1, `{"a":1}`),
		} {
			m := requireProblem(t, r, 409, "idempotency-key-in-use")
			require.Equal(t, "'Idempotency-Key' is already in use against a different request", m["detail"], name)
		}
		require.Equal(t, before, d.runs.Load())
	})

	t.Run("keys are scoped per API key", func(t *testing.T) {
		before := d.runs.Load()
		other := e.authorize(keyAll.Key)
		r := e.tokenCall("POST", thingsA, other, idemKey1, `{"a":1}`)
		require.Equal(t, http.StatusCreated, r.status)
		require.Empty(t, r.header.Get(idempotency.ReplayedHeader))
		require.Equal(t, before+1, d.runs.Load())
	})

	t.Run("server errors are not kept", func(t *testing.T) {
		d.status.Store(http.StatusInternalServerError)
		before := d.runs.Load()
		require.Equal(t, 500, e.tokenCall("POST", thingsA, tok, idemKey2, `{}`).status)
		d.status.Store(0)
		r := e.tokenCall("POST", thingsA, tok, idemKey2, `{}`)
		require.Equal(t, http.StatusCreated, r.status, "the retry ran")
		require.Empty(t, r.header.Get(idempotency.ReplayedHeader))
		require.Equal(t, before+1, d.runs.Load())
	})

	t.Run("client errors are kept", func(t *testing.T) {
		d.status.Store(http.StatusBadRequest)
		key := "11111111-2222-4333-8444-555555555555"
		first := e.tokenCall("POST", thingsA, tok, key, `{}`)
		d.status.Store(0)
		again := e.tokenCall("POST", thingsA, tok, key, `{}`)
		require.Equal(t, 400, again.status)
		require.Equal(t, first.body, again.body)
	})

	t.Run("nothing readable at rest", func(t *testing.T) {
		raw := string(teststores.Memstore.Raw(t, e.st))
		require.Contains(t, raw, "idempotency")
		require.NotContains(t, raw, d.secret, "responses are sealed")
		require.NotContains(t, raw, idemKey1, "keys are hashed")
		require.NotContains(t, raw, `"a":1`, "requests are not kept")
	})

	t.Run("kept 24 hours, then swept", func(t *testing.T) {
		key := "22222222-3333-4444-8555-666666666666"
		e.tokenCall("POST", thingsA, tok, key, `{"b":1}`)
		before := d.runs.Load()
		e.clock.Advance(23 * time.Hour)
		tok := e.authorize(keyTwo.Key)
		require.Equal(t, "true", e.tokenCall("POST", thingsA, tok, key, `{"b":1}`).header.Get(idempotency.ReplayedHeader))
		n, err := e.srv.deployment.Sweeper.Sweep(ctx)
		require.NoError(t, err)
		e.clock.Advance(time.Hour)
		n2, err := e.srv.deployment.Sweeper.Sweep(ctx)
		require.NoError(t, err)
		require.Greater(t, n2, n, "the day-old records went")
		tok = e.authorize(keyTwo.Key)
		r := e.tokenCall("POST", thingsA, tok, key, `{"c":1}`)
		require.Equal(t, http.StatusCreated, r.status, "the key is free again")
		require.Equal(t, before+1, d.runs.Load())
	})

	t.Run("the rest of the chain", func(t *testing.T) {
		tok := e.authorize(keyTwo.Key)
		requireProblem(t, e.tokenCall("POST", thingsA, "", idemKey1, `{}`), 401, "not-authorized")
		requireProblem(t, e.tokenCall("POST", "/v1/processing-terminals/7777777/things", tok, idemKey1, `{}`), 403, "forbidden")
		requireProblem(t, e.tokenCall("POST", thingsA, tok, idemKey1, `{}`, "Accept", "application/xml"), 406, "not-acceptable")
		requireProblem(t, e.do(req{method: "POST", path: thingsA, body: `{}`, contentType: "text/plain",
			header: map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": idemKey1}}), 415, "unsupported-media-type")
		requireProblem(t, e.do(req{method: "POST", path: thingsA, body: `{}`, contentType: "-",
			header: map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": idemKey1}}), 415, "unsupported-media-type")
		r := e.do(req{method: "PATCH", path: thingsA + "/y", body: `[]`, contentType: "application/json-patch+json",
			header: map[string]string{"Authorization": "Bearer " + tok, "Idempotency-Key": "33333333-3333-4333-8333-333333333333"}})
		require.Equal(t, http.StatusCreated, r.status)
		requireProblem(t, e.tokenCall("POST", thingsA, tok, "44444444-4444-4444-8444-444444444444",
			`{"x":"`+strings.Repeat("y", 64<<10)+`"}`), 413, "payload-too-large")
	})
}

// TestIdempotencyConcurrent: many identical requests at once run the
// work once and all get its response; a different request meanwhile gets
// 409.
func TestIdempotencyConcurrent(t *testing.T) {
	e := newEnv(t)
	d := &tokenRoute{delay: 150 * time.Millisecond}
	e.tokenRoute(d)
	tok := e.authorize(keyAll.Key)
	const n = 8
	replies := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = e.tokenCall("POST", thingsA, tok, idemKey1, `{"same":true}`)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	requireProblem(t, e.tokenCall("POST", thingsA, tok, idemKey1, `{"same":false}`), 409, "idempotency-key-in-use")
	wg.Wait()
	require.Equal(t, int64(1), d.runs.Load())
	replayed := 0
	for _, r := range replies {
		require.Equal(t, http.StatusCreated, r.status)
		require.Equal(t, replies[0].body, r.body)
		if r.header.Get(idempotency.ReplayedHeader) == "true" {
			replayed++
		}
	}
	require.Equal(t, n-1, replayed)
}

// TestIdempotencyAcrossProcesses: two servers on one PostgreSQL database
// share their idempotency records (and the server key that scopes them).
func TestIdempotencyAcrossProcesses(t *testing.T) {
	st := teststores.Pgstore.Open(t)
	a := newEnv(t, func(c *Config) { c.Store = st })
	b := newEnv(t, withStore(st, a.kr))
	da, db := &tokenRoute{delay: 100 * time.Millisecond}, &tokenRoute{}
	a.tokenRoute(da)
	b.tokenRoute(db)
	tok := a.authorize(keyTwo.Key)

	var first reply
	done := make(chan struct{})
	go func() {
		defer close(done)
		first = a.tokenCall("POST", thingsA, tok, idemKey1, `{"x":1}`)
	}()
	time.Sleep(30 * time.Millisecond)
	second := b.tokenCall("POST", thingsA, tok, idemKey1, `{"x":1}`) // serialized after a's transaction
	<-done
	require.Equal(t, int64(1), da.runs.Load()+db.runs.Load())
	require.Equal(t, first.body, second.body)
	requireProblem(t, b.tokenCall("POST", thingsA, tok, idemKey1, `{"x":2}`), 409, "idempotency-key-in-use")
}

func httptestRequest(method, path, body string) *http.Request {
	r, _ := http.NewRequest(method, path, bytes.NewReader([]byte(body)))
	return r
}

func TestProblemFor(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ErrorsBaseURL = "https://errors.example/api" })
	r := httptestRequest("GET", "/v1/processing-terminals/1234001/secure-tokens/x", "")
	inv := &cardvault.InvalidError{}
	inv.Add("/customer/lastName", "too long", "at most 60 characters")
	cases := []struct {
		err    error
		status int
		anchor string
	}{
		{inv, 400, "bad-request"},
		{fmt.Errorf("wrapped: %w", cardvault.ErrInvalid), 400, "bad-request"},
		{cardvault.ErrTooLarge, 413, "payload-too-large"},
		{&http.MaxBytesError{Limit: 10}, 413, "payload-too-large"},
		{cardvault.ErrUnauthorized, 401, "not-authorized"},
		{cardvault.ErrForbidden, 403, "forbidden"},
		{cardvault.ErrNotFound, 404, "not-found"},
		{cardvault.ErrExpired, 404, "not-found"},
		{cardvault.ErrConflict, 409, "resource-already-exists"},
		{context.DeadlineExceeded, 500, "api-error"},
		{fmt.Errorf("disk on fire"), 500, "api-error"},
	}
	for _, c := range cases {
		p := e.srv.problemFor(r, c.err, "secureToken")
		require.Equal(t, c.status, p.Status, c.err.Error())
		require.Equal(t, "https://errors.example/api#"+c.anchor, p.Type, c.err.Error())
	}
	p := e.srv.problemFor(r, inv, "secureToken")
	require.Equal(t, []securetoken.ProblemError{{Parameter: "/customer/lastName", Detail: "too long", Message: "at most 60 characters"}}, p.Errors)
	p = e.srv.problemFor(r, cardvault.ErrNotFound, "secureToken")
	require.Equal(t, "secureToken", p.Resource)
	p = e.srv.problemFor(r, cardvault.ErrForbidden, "secureToken")
	require.Equal(t, "/v1/processing-terminals/1234001/secure-tokens/x", p.Instance)
	require.NotContains(t, e.srv.problemFor(r, fmt.Errorf("disk on fire"), "").Detail, "fire", "unknown errors say nothing")
}

// TestOneCommitPerWrite: each write of the secure-token API under an
// Idempotency-Key is one durable commit — the work, its kept response and
// any single-use token it makes or uses — on bbolt, where a commit is an
// fsync. (A terminal's first secure token also creates the terminal's
// key, once: the test makes one first.)
func TestOneCommitPerWrite(t *testing.T) {
	st := teststores.Boltstore.Open(t)
	e := newEnv(t, func(c *Config) { c.Store = st })
	api := e.caller(keyAll)
	api.create(termA, set(t, fixture(t, "create-card.json"), "secureTokenId", "MREF_first"))

	commits := func(name string, send func() reply, want int) reply {
		t.Helper()
		before := st.Stats().Commits
		r := send()
		require.Equal(t, want, r.status, "%s: %s", name, r.body)
		require.Equal(t, before+1, st.Stats().Commits, "%s: one durable commit", name)
		return r
	}
	card := set(t, fixture(t, "create-card.json"), "secureTokenId", "MREF_once")
	commits("create", func() reply { return api.do("POST", terminalURL(termA, "secure-tokens"), card) }, http.StatusCreated)
	commits("patch", func() reply {
		return api.do("PATCH", terminalURL(termA, "secure-tokens", "MREF_once"), `[{"op":"replace","path":"/mitAgreement","value":"installment"}]`)
	}, http.StatusOK)
	su := commits("single-use token", func() reply {
		return api.do("POST", terminalURL(termA, "single-use-tokens"), fixture(t, "single-use-card.json"))
	}, http.StatusCreated).json(t)["token"].(string)
	commits("update-account", func() reply {
		return api.do("POST", terminalURL(termA, "secure-tokens", "MREF_once", "update-account"), `{"type":"singleUseToken","token":"`+su+`"}`)
	}, http.StatusOK)
	commits("a refused create", func() reply {
		return api.do("POST", terminalURL(termA, "secure-tokens"), set(t, card, "mitAgreement", "sometimes"))
	}, http.StatusBadRequest)
}
