package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Idempotency-Key (payroc-api.md): every POST and PATCH of the secure-token
// API carries a UUID v4. The first request with a key runs; its response is
// kept and any later request with the same key, method, path (with query)
// and body gets that response again, byte for byte (status, the headers the
// handler set, body) plus "Idempotent-Replayed: true"; the same key with a
// different request gets 409 idempotency-key-in-use.
//
// Records live in the store (bucket server.idempotency, expiry index
// server.idempotency.expiry), so the guarantee holds across processes that
// share it. Keys are scoped per API key: two clients never see each other's.
// A record is named by a hash of the scope and the key, and its content —
// the request's fingerprint and the response, which may hold a single-use
// token — is sealed under a key derived from the Idempotency-Key itself
// (122 random bits), so the store alone reveals nothing about either.
//
// Concurrent requests with one key: the first takes a lease (a "pending"
// record) and runs; the others wait, polling the store, for its response
// and replay it — or get 409 idempotency-key-in-use at once when their
// request differs, or when their own deadline passes first. A lease runs out
// after the request timeout plus a margin, so a process that died mid-request
// does not block its key for a day; the next request then runs again. (A
// crash between the handler's write and the record's completion is the one
// case in which a request runs twice.)
//
// Responses with a 5xx status are not kept: the key is released so that the
// client's retry runs again. Records are kept Config.IdempotencyTTL (24 h by
// default) and then swept.

const (
	idemBucket       = "server.idempotency"
	idemExpiryBucket = "server.idempotency.expiry"
	idemLeaseMargin  = 10 * time.Second
	idemPollMin      = 20 * time.Millisecond
	idemPollMax      = 500 * time.Millisecond
	replayedHeader   = "Idempotent-Replayed"
)

// parseIdempotencyKey accepts a UUID version 4 (RFC 9562) in any case and
// returns it in lower case.
func parseIdempotencyKey(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	s = strings.ToLower(s)
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return "", false
			}
		}
	}
	if s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
		return "", false
	}
	return s, true
}

// idemRecord is what the store holds for a key.
type idemRecord struct {
	Done    bool      `json:"done,omitempty"`
	Lease   time.Time `json:"lease,omitzero"` // pending: the runner's lease ends
	Expires time.Time `json:"expires"`
	Sealed  []byte    `json:"sealed"` // idemContent, sealed under the key
}

// idemContent is the sealed part: the request's fingerprint and, once done,
// the response.
type idemContent struct {
	Request []byte              `json:"request"`
	Status  int                 `json:"status,omitempty"`
	Header  map[string][]string `json:"header,omitempty"`
	Body    []byte              `json:"body,omitempty"`
}

type idempotency struct {
	st       *store.Store
	ttl      time.Duration
	lease    time.Duration
	now      func() time.Time
	maxBody  int64
	onReplay func()
}

type idemKey struct {
	id     []byte // store key: hash of scope and key
	secret string // seals the content
}

func newIdemKey(scope, key string) idemKey {
	secret := scope + "\x00" + key
	h := crypto.HashSecret("server.idempotency\x00" + secret)
	return idemKey{id: h[:], secret: secret}
}

func (k idemKey) context() []byte { return append([]byte("server.idempotency\x00"), k.id...) }

func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

type beginOutcome int

const (
	idemRun      beginOutcome = iota // this request holds the lease: run it
	idemReplay                       // a response is kept: replay it
	idemMismatch                     // the key is in use by another request
	idemWait                         // the same request is running elsewhere
)

// begin looks the key up and takes the lease when it is free.
func (m *idempotency) begin(ctx context.Context, k idemKey, fp []byte) (beginOutcome, idemContent, error) {
	var outcome beginOutcome
	var content idemContent
	err := m.st.Update(ctx, func(tx store.Tx) error {
		outcome, content = idemRun, idemContent{}
		now := m.now().UTC()
		raw, err := tx.Get(idemBucket, k.id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			var rec idemRecord
			if err := json.Unmarshal(raw, &rec); err != nil {
				return err
			}
			live := now.Before(rec.Expires) && (rec.Done || now.Before(rec.Lease))
			if live {
				plain, err := crypto.OpenWithSecret(k.secret, k.context(), rec.Sealed)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(plain, &content); err != nil {
					return err
				}
				switch {
				case !bytes.Equal(content.Request, fp):
					outcome = idemMismatch
				case rec.Done:
					outcome = idemReplay
				default:
					outcome = idemWait
				}
				return nil
			}
			// Expired, or a lease that ran out: the key is free again.
			if err := tx.Delete(idemExpiryBucket, idemExpiryKey(rec.Expires, k.id)); err != nil {
				return err
			}
		}
		sealed, err := seal(k, idemContent{Request: fp})
		if err != nil {
			return err
		}
		rec := idemRecord{Lease: now.Add(m.lease), Expires: now.Add(m.ttl), Sealed: sealed}
		if err := putJSON(tx, idemBucket, k.id, rec); err != nil {
			return err
		}
		return tx.Put(idemExpiryBucket, idemExpiryKey(rec.Expires, k.id), nil)
	})
	return outcome, content, err
}

// complete keeps the response of the request that holds the lease.
func (m *idempotency) complete(ctx context.Context, k idemKey, c idemContent) error {
	return m.st.Update(ctx, func(tx store.Tx) error {
		raw, err := tx.Get(idemBucket, k.id)
		if err != nil {
			return err
		}
		var rec idemRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		sealed, err := seal(k, c)
		if err != nil {
			return err
		}
		rec.Done, rec.Lease, rec.Sealed = true, time.Time{}, sealed
		return putJSON(tx, idemBucket, k.id, rec)
	})
}

// release frees the key of a request that failed with a 5xx or panicked.
func (m *idempotency) release(ctx context.Context, k idemKey) error {
	return m.st.Update(ctx, func(tx store.Tx) error {
		raw, err := tx.Get(idemBucket, k.id)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var rec idemRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		if rec.Done {
			return nil
		}
		if err := tx.Delete(idemExpiryBucket, idemExpiryKey(rec.Expires, k.id)); err != nil {
			return err
		}
		return tx.Delete(idemBucket, k.id)
	})
}

// sweep deletes the records that expired, a batch per transaction, and
// returns how many.
func (m *idempotency) sweep(ctx context.Context) (int, error) {
	end := idemExpiryKey(m.now().UTC().Add(time.Nanosecond), nil)
	removed := 0
	for {
		n := 0
		err := m.st.Update(ctx, func(tx store.Tx) error {
			n = 0
			var keys [][]byte
			err := tx.Scan(idemExpiryBucket, store.Range{End: end, Limit: 256}, func(k, _ []byte) error {
				keys = append(keys, k)
				return nil
			})
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.Delete(idemExpiryBucket, k); err != nil {
					return err
				}
				id := k[8:]
				raw, err := tx.Get(idemBucket, id)
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				var rec idemRecord
				if json.Unmarshal(raw, &rec) == nil && !bytes.Equal(idemExpiryKey(rec.Expires, id), k) {
					continue // the key was taken again since
				}
				if err := tx.Delete(idemBucket, id); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		removed += n
		if err != nil || n < 256 {
			return removed, err
		}
	}
}

func idemExpiryKey(t time.Time, id []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())), id...)
}

func seal(k idemKey, c idemContent) ([]byte, error) {
	plain, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return crypto.SealWithSecret(k.secret, k.context(), plain), nil
}

func putJSON(tx store.Tx, bucket string, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, raw)
}

// notKept are the response headers a replay does not repeat: they describe
// the delivery, not the response.
var notKept = map[string]bool{"Date": true, "X-Request-Id": true, "Content-Length": true, "Connection": true}

// requireIdempotency wraps a POST or PATCH handler of the secure-token API
// (other methods pass through): a missing or malformed Idempotency-Key is a
// 400 idempotency-key-missing; see the top of this file for the rest. It
// must run after requireBearer, whose client scopes the keys. It reads the
// whole body (at most maxBody bytes, else 413) and hands the handler a copy.
func (s *Server) requireIdempotency(next http.Handler) http.Handler {
	m := s.idem
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := parseIdempotencyKey(r.Header.Get("Idempotency-Key"))
		if !ok {
			p := s.newProblem(anchorIdemMissing)
			if r.Header.Get("Idempotency-Key") != "" {
				p.Detail = "The 'Idempotency-Key' must be a UUID v4"
			}
			writeProblem(w, p)
			return
		}
		client, ok := clientFrom(r.Context())
		if !ok {
			s.log.ErrorContext(r.Context(), "requireIdempotency runs without requireBearer", "route", r.Pattern)
			writeProblem(w, s.newProblem(anchorAPIError))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblem(w, s.newProblem(anchorTooLarge))
				return
			}
			s.writeProblemFor(w, r, err, "")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		k, fp := newIdemKey(client.ID, key), fingerprint(r, body)

		wait := idemPollMin
		for {
			outcome, kept, err := m.begin(r.Context(), k, fp)
			if err != nil {
				s.writeProblemFor(w, r, err, "")
				return
			}
			switch outcome {
			case idemReplay:
				m.onReplay()
				h := w.Header()
				for name, vs := range kept.Header {
					h[name] = vs
				}
				h.Set(replayedHeader, "true")
				h.Set("Content-Length", strconv.Itoa(len(kept.Body)))
				w.WriteHeader(kept.Status)
				_, _ = w.Write(kept.Body)
				return
			case idemMismatch:
				writeProblem(w, s.newProblem(anchorIdemInUse))
				return
			case idemWait:
				select {
				case <-r.Context().Done():
					p := s.newProblem(anchorIdemInUse)
					p.Detail = "A request with this 'Idempotency-Key' is still being processed"
					writeProblem(w, p)
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, idemPollMax)
				continue
			}
			break
		}

		// This request holds the lease: run it into a buffer, keep the
		// response, then send it.
		rec := &bufferedWriter{header: http.Header{}}
		done := false
		defer func() {
			if !done { // the handler panicked
				ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
				defer cancel()
				_ = m.release(ctx, k)
			}
		}()
		next.ServeHTTP(rec, r)
		done = true
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if rec.status >= 500 {
			if err := m.release(ctx, k); err != nil {
				s.log.ErrorContext(ctx, "releasing an idempotency key", "err", err)
			}
		} else {
			keep := idemContent{Request: fp, Status: rec.status, Header: map[string][]string{}, Body: rec.body.Bytes()}
			for name, vs := range rec.header {
				if !notKept[name] {
					keep.Header[name] = vs
				}
			}
			if err := m.complete(ctx, k, keep); err != nil {
				// The work is done and is answered; a retry with this key
				// waits for the lease to run out, then runs again.
				s.log.ErrorContext(ctx, "keeping an idempotent response", "err", err)
			}
		}
		h := w.Header()
		for name, vs := range rec.header {
			h[name] = vs
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// bufferedWriter records a response instead of sending it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
