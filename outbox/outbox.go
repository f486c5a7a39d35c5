package outbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/store"
)

// Sentinel errors.
var (
	// ErrNotFound: no dead-lettered job of that tenant has that id.
	ErrNotFound = fmt.Errorf("outbox: no such dead-lettered job: %w", cardvault.ErrNotFound)
	// ErrInvalid: a job outside the limits (kind, tenant, payload, tries).
	ErrInvalid = fmt.Errorf("outbox: %w", cardvault.ErrInvalid)
)

// Limits of a Job.
const (
	MaxKindLen    = 64
	MaxTenantLen  = 128
	MaxPayloadLen = 256 << 10
	MaxTries      = 64
)

// Defaults for zero fields of Config.
const (
	DefaultWorkers    = 16
	DefaultPerTenant  = 4
	DefaultLease      = 30 * time.Second
	DefaultMaxTries   = 8
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 10 * time.Minute
	DefaultDeadTTL    = 30 * 24 * time.Hour
	DefaultPoll       = 250 * time.Millisecond
)

// leaseMargin is how long before its lease ends a handler's context does:
// the worker must have stopped by the time another may take the job over.
const leaseMargin = 2 * time.Second

// Job is work to do once the transaction that enqueues it commits.
type Job struct {
	// Kind names the Handler that does it: 1 to MaxKindLen bytes.
	Kind string
	// Tenant is whose job it is, for fairness: 1 to MaxTenantLen bytes
	// without NUL.
	Tenant string
	// Payload is what the handler gets, sealed at rest: at most
	// MaxPayloadLen bytes.
	Payload []byte
	// MaxTries bounds the tries (Config.MaxTries when zero, at most
	// MaxTries).
	MaxTries int
}

// Delivery is one try of a job, as its Handler sees it.
type Delivery struct {
	// ID names the job, the same on every try: a receiver de-duplicates
	// by it.
	ID       string
	Kind     string
	Tenant   string
	Payload  []byte
	Try      int // 1 on the first
	MaxTries int
	Enqueued time.Time

	fence uint64
}

// Handler does one try of a job. It returns nil when the job is done, an
// error to have it tried again later (until its MaxTries), or a
// Permanent error to dead-letter it at once. The context ends before the
// job's lease does. An error's message is kept with a dead letter and
// logged: it must not carry secrets or payload data.
type Handler func(ctx context.Context, d Delivery) error

// Permanent marks err as not worth another try.
func Permanent(err error) error { return permanentError{err} }

// IsPermanent reports whether err was marked by Permanent.
func IsPermanent(err error) bool { return errors.As(err, new(permanentError)) }

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Config configures an Outbox. Store and Keyring are required.
type Config struct {
	Store   *store.Store
	Keyring *crypto.Keyring
	// Workers is how many jobs this process runs at once (DefaultWorkers).
	Workers int
	// PerTenant is how many jobs of one tenant run at once, over every
	// process on the store (DefaultPerTenant).
	PerTenant int
	// Lease is how long a claimed job is a worker's before another may
	// take it over (DefaultLease); it must exceed the longest a handler
	// takes plus a few seconds.
	Lease time.Duration
	// MaxTries is the default of Job.MaxTries (DefaultMaxTries).
	MaxTries int
	// Backoff is the wait before the second try, doubling with each try
	// up to MaxBackoff, each wait drawn between half and all of it
	// (DefaultBackoff, DefaultMaxBackoff).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// DeadTTL is how long a dead letter is kept (DefaultDeadTTL).
	DeadTTL time.Duration
	// Poll is how often an idle worker looks for jobs that other
	// processes enqueued (DefaultPoll); jobs enqueued in this process wake
	// it at once.
	Poll time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives delivery failures (kind, tenant, id, try, the
	// handler's error); nil means slog.Default().
	Logger *slog.Logger
}

// Outbox is a durable queue of jobs in a store. It is safe for concurrent
// use.
type Outbox struct {
	cfg   Config
	st    *store.Store
	key   *crypto.DataKey
	owner string

	mu       sync.RWMutex
	handlers map[string]Handler

	kick chan struct{}
	done chan result

	delivered, retried, dead atomic.Uint64
}

// Stats are the counters of this process's workers since Open.
type Stats struct {
	Delivered, Retried, DeadLettered uint64
}

// Stats returns the counters of this process's workers.
func (o *Outbox) Stats() Stats {
	return Stats{Delivered: o.delivered.Load(), Retried: o.retried.Load(), DeadLettered: o.dead.Load()}
}

const (
	bucketMeta    = "outbox.meta"    // "key" → the payload key, wrapped by the keyring
	bucketJobs    = "outbox.jobs"    // id → record
	bucketQueue   = "outbox.queue"   // tenant \0 due ‖ id → "": ready jobs, per tenant, due first
	bucketHeads   = "outbox.heads"   // due ‖ tenant → "": each tenant with ready jobs, at its first's due
	bucketTenants = "outbox.tenants" // tenant → due of its first ready job
	bucketLeases  = "outbox.leases"  // until ‖ id → "": claimed jobs, by the end of their lease
	bucketRunning = "outbox.running" // tenant \0 id → "": claimed jobs, per tenant
	bucketDead    = "outbox.dead"    // tenant \0 id → "": dead letters, per tenant
	expiryDead    = "outbox.dead"    // package expiry's kind: a dead letter, by id
)

// Open returns the Outbox over cfg.Store, creating its key on first use.
// Register handlers with Handle, then start workers with Run.
func Open(ctx context.Context, cfg Config) (*Outbox, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("outbox: Config.Store and Config.Keyring are required")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defD := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.Workers, DefaultWorkers)
	def(&cfg.PerTenant, DefaultPerTenant)
	def(&cfg.MaxTries, DefaultMaxTries)
	defD(&cfg.Lease, DefaultLease)
	defD(&cfg.Backoff, DefaultBackoff)
	defD(&cfg.MaxBackoff, DefaultMaxBackoff)
	defD(&cfg.DeadTTL, DefaultDeadTTL)
	defD(&cfg.Poll, DefaultPoll)
	if cfg.Lease <= leaseMargin {
		return nil, fmt.Errorf("outbox: Lease must be over %v", leaseMargin)
	}
	cfg.MaxTries = min(cfg.MaxTries, MaxTries)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	key, err := wrappedkey.Load(ctx, cfg.Store, cfg.Keyring, bucketMeta, []byte("key"), true)
	if err != nil {
		return nil, fmt.Errorf("outbox: the payload key: %w", err)
	}
	return &Outbox{
		cfg: cfg, st: cfg.Store, key: key, owner: crypto.NewID(8),
		handlers: map[string]Handler{}, kick: make(chan struct{}, 1), done: make(chan result, cfg.Workers),
	}, nil
}

// RewrapMasterKey re-wraps the outbox's key for the keyring's current
// identity after a master-key rotation; it returns how many keys changed.
func (o *Outbox) RewrapMasterKey(ctx context.Context) (int, error) {
	return wrappedkey.RewrapAll(ctx, o.st, o.cfg.Keyring, bucketMeta)
}

// Handle registers the handler of kind. Jobs of a kind no handler of this
// process does wait for a process that has one.
func (o *Outbox) Handle(kind string, h Handler) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers[kind] = h
}

func (o *Outbox) handler(kind string) Handler {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.handlers[kind]
}

// record is what the store holds for a job.
type record struct {
	Kind     string    `json:"kind"`
	Tenant   string    `json:"tenant"`
	Tries    int       `json:"tries"`
	MaxTries int       `json:"max_tries"`
	State    string    `json:"state"` // ready, leased, dead
	Due      time.Time `json:"due"`   // ready: when it may run; leased: when the lease ends
	Fence    uint64    `json:"fence"`
	Owner    string    `json:"owner,omitempty"`
	Enqueued time.Time `json:"enqueued"`
	Error    string    `json:"error,omitempty"` // the last try's
	Died     time.Time `json:"died,omitzero"`
	Sealed   []byte    `json:"sealed"`
}

const (
	stateReady  = "ready"
	stateLeased = "leased"
	stateDead   = "dead"
)

func be64(t time.Time) []byte { return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())) }

func timeOf(b []byte) time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC() }

func tenantKey(tenant, id string) []byte { return []byte(tenant + "\x00" + id) }

func queueKey(tenant string, due time.Time, id string) []byte {
	k := append([]byte(tenant+"\x00"), be64(due)...)
	return append(k, id...)
}

func timeKey(t time.Time, s string) []byte { return append(be64(t), s...) }

func jobAD(id string) []byte { return []byte("outbox.jobs\x00" + id) }

// newID is a job id: 8 bytes of time then 8 random, in hex, so that jobs
// of one moment land side by side in the jobs bucket.
func newID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	_, _ = rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

func getRecord(tx store.Tx, id string) (*record, error) {
	raw, err := tx.Get(bucketJobs, []byte(id))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("outbox: a stored job is corrupt: %w", err)
	}
	return &r, nil
}

func putRecord(tx store.Tx, id string, r *record) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketJobs, []byte(id), raw)
}

// Enqueue adds job inside tx, the transaction of the work that causes it,
// and returns its id. The job is due at once; workers of this process are
// woken when tx commits, those of others within Config.Poll.
func (o *Outbox) Enqueue(tx store.Tx, job Job) (string, error) {
	if job.Kind == "" || len(job.Kind) > MaxKindLen || job.Tenant == "" || len(job.Tenant) > MaxTenantLen ||
		strings.IndexByte(job.Tenant, 0) >= 0 || len(job.Payload) > MaxPayloadLen || job.MaxTries < 0 || job.MaxTries > MaxTries {
		return "", fmt.Errorf("%w: a job needs a kind of 1-%d bytes, a tenant of 1-%d bytes without NUL, a payload of at most %d bytes and at most %d tries",
			ErrInvalid, MaxKindLen, MaxTenantLen, MaxPayloadLen, MaxTries)
	}
	now := o.cfg.Now().UTC()
	id := newID(now)
	r := &record{
		Kind: job.Kind, Tenant: job.Tenant, MaxTries: job.MaxTries, State: stateReady, Due: now, Enqueued: now,
		Sealed: o.key.Seal(job.Payload, jobAD(id)),
	}
	if r.MaxTries == 0 {
		r.MaxTries = o.cfg.MaxTries
	}
	if err := putRecord(tx, id, r); err != nil {
		return "", err
	}
	if err := ready(tx, r.Tenant, id, now); err != nil {
		return "", err
	}
	if err := store.OnCommit(tx, o.wake); err != nil {
		return "", err
	}
	return id, nil
}

// wake tells this process's dispatcher to look for jobs.
func (o *Outbox) wake() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// ready queues job id of tenant, due at due, keeping the tenant's head.
func ready(tx store.Tx, tenant, id string, due time.Time) error {
	if err := tx.Put(bucketQueue, queueKey(tenant, due, id), nil); err != nil {
		return err
	}
	head, err := tx.Get(bucketTenants, []byte(tenant))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	case !due.Before(timeOf(head)):
		return nil // behind the tenant's first ready job
	default:
		if err := tx.Delete(bucketHeads, timeKey(timeOf(head), tenant)); err != nil {
			return err
		}
	}
	if err := tx.Put(bucketHeads, timeKey(due, tenant), nil); err != nil {
		return err
	}
	return tx.Put(bucketTenants, []byte(tenant), be64(due))
}

// resetHead points tenant's head at its first ready job, after jobs left
// its queue.
func resetHead(tx store.Tx, tenant string) error {
	head, err := tx.Get(bucketTenants, []byte(tenant))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.Delete(bucketHeads, timeKey(timeOf(head), tenant)); err != nil {
		return err
	}
	prefix := []byte(tenant + "\x00")
	var first []byte
	err = tx.Scan(bucketQueue, store.Range{Start: prefix, End: store.PrefixEnd(prefix), Limit: 1}, func(k, _ []byte) error {
		first = k
		return nil
	})
	if err != nil {
		return err
	}
	if first == nil {
		return tx.Delete(bucketTenants, []byte(tenant))
	}
	due := timeOf(first[len(prefix) : len(prefix)+8])
	if err := tx.Put(bucketHeads, timeKey(due, tenant), nil); err != nil {
		return err
	}
	return tx.Put(bucketTenants, []byte(tenant), be64(due))
}

// running counts tenant's claimed jobs.
func running(tx store.Tx, tenant string) (int, error) {
	prefix := []byte(tenant + "\x00")
	n := 0
	err := tx.Scan(bucketRunning, store.Range{Start: prefix, End: store.PrefixEnd(prefix)}, func(_, _ []byte) error {
		n++
		return nil
	})
	return n, err
}

// release takes a claimed job out of the leases and the running set.
func release(tx store.Tx, id string, r *record) error {
	if err := tx.Delete(bucketLeases, timeKey(r.Due, id)); err != nil {
		return err
	}
	return tx.Delete(bucketRunning, tenantKey(r.Tenant, id))
}

// due reports whether a job may be claimed now — a tenant's first ready
// job is due, or a lease ran out — in a read-only transaction, so that an
// idle worker's polls cost no commit.
func (o *Outbox) due(ctx context.Context) (bool, error) {
	end := be64(o.cfg.Now().UTC().Add(time.Nanosecond))
	found := false
	err := o.st.View(ctx, func(tx store.Tx) error {
		found = false
		for _, b := range []string{bucketHeads, bucketLeases} {
			err := tx.Scan(b, store.Range{End: end, Limit: 1}, func(_, _ []byte) error {
				found = true
				return nil
			})
			if err != nil || found {
				return err
			}
		}
		return nil
	})
	return found, err
}

// claim leases at most want due jobs, and returns their deliveries.
func (o *Outbox) claim(ctx context.Context, want int) ([]Delivery, error) {
	if ok, err := o.due(ctx); err != nil || !ok {
		return nil, err
	}
	var out []Delivery
	err := o.st.Update(ctx, func(tx store.Tx) error {
		out = out[:0]
		now := o.cfg.Now().UTC()
		if err := o.requeueExpired(tx, now); err != nil {
			return err
		}
		// Tenants whose first job is due, oldest first; each gives what
		// its free share allows.
		heads, err := store.Keys(tx, bucketHeads, store.Range{End: be64(now.Add(time.Nanosecond)), Limit: 1024})
		if err != nil {
			return err
		}
		for _, k := range heads {
			if len(out) >= want {
				break
			}
			tenant := string(k[8:])
			n, err := running(tx, tenant)
			if err != nil {
				return err
			}
			if free := min(o.cfg.PerTenant-n, want-len(out)); free > 0 {
				ds, err := o.claimTenant(tx, tenant, free, now)
				if err != nil {
					return err
				}
				out = append(out, ds...)
			}
		}
		return nil
	})
	return out, err
}

// requeueExpired puts the jobs whose leases ran out back in their queues:
// their workers died or hang. The try they were on counts.
func (o *Outbox) requeueExpired(tx store.Tx, now time.Time) error {
	expired, err := store.Keys(tx, bucketLeases, store.Range{End: be64(now.Add(time.Nanosecond)), Limit: 256})
	if err != nil {
		return err
	}
	for _, k := range expired {
		id := string(k[8:])
		r, err := getRecord(tx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := release(tx, id, r); err != nil {
			return err
		}
		if r.Tries >= r.MaxTries {
			if err := o.bury(tx, id, r, now, "the lease ran out on the last try"); err != nil {
				return err
			}
			continue
		}
		r.State, r.Due, r.Owner = stateReady, now, ""
		if err := putRecord(tx, id, r); err != nil {
			return err
		}
		if err := ready(tx, r.Tenant, id, now); err != nil {
			return err
		}
	}
	return nil
}

// claimTenant leases at most n of tenant's due jobs.
func (o *Outbox) claimTenant(tx store.Tx, tenant string, n int, now time.Time) ([]Delivery, error) {
	prefix := []byte(tenant + "\x00")
	keys, err := store.Keys(tx, bucketQueue, store.Range{Start: prefix, End: append(bytes.Clone(prefix), be64(now.Add(time.Nanosecond))...), Limit: n})
	if err != nil {
		return nil, err
	}
	var out []Delivery
	for _, k := range keys {
		id := string(k[len(prefix)+8:])
		if err := tx.Delete(bucketQueue, k); err != nil {
			return nil, err
		}
		r, err := getRecord(tx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		payload, err := o.key.Open(r.Sealed, jobAD(id))
		if err != nil {
			return nil, fmt.Errorf("outbox: job %s does not open: %w", id, err)
		}
		r.State, r.Tries, r.Fence, r.Owner, r.Due = stateLeased, r.Tries+1, r.Fence+1, o.owner, now.Add(o.cfg.Lease)
		if err := putRecord(tx, id, r); err != nil {
			return nil, err
		}
		if err := tx.Put(bucketLeases, timeKey(r.Due, id), nil); err != nil {
			return nil, err
		}
		if err := tx.Put(bucketRunning, tenantKey(tenant, id), nil); err != nil {
			return nil, err
		}
		out = append(out, Delivery{ID: id, Kind: r.Kind, Tenant: r.Tenant, Payload: payload, Try: r.Tries,
			MaxTries: r.MaxTries, Enqueued: r.Enqueued, fence: r.Fence})
	}
	return out, resetHead(tx, tenant)
}

// bury dead-letters job id.
func (o *Outbox) bury(tx store.Tx, id string, r *record, now time.Time, why string) error {
	r.State, r.Owner, r.Error, r.Died = stateDead, "", why, now
	if err := putRecord(tx, id, r); err != nil {
		return err
	}
	if err := tx.Put(bucketDead, tenantKey(r.Tenant, id), nil); err != nil {
		return err
	}
	return expiry.Set(tx, expiryDead, []byte(id), now.Add(o.cfg.DeadTTL))
}

func init() {
	expiry.Handle(expiryDead, func(tx store.Tx, key []byte, at time.Time) (bool, error) {
		r, err := getRecord(tx, string(key))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if r.State != stateDead {
			return false, nil // retried since
		}
		if err := tx.Delete(bucketDead, tenantKey(r.Tenant, string(key))); err != nil {
			return false, err
		}
		return true, tx.Delete(bucketJobs, key)
	})
}

// result is how a try ended.
type result struct {
	d   Delivery
	err error
}

// finish records the outcomes of tries, in one transaction.
func (o *Outbox) finish(ctx context.Context, results []result) error {
	return o.st.Update(ctx, func(tx store.Tx) error {
		now := o.cfg.Now().UTC()
		for _, res := range results {
			id := res.d.ID
			r, err := getRecord(tx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if r.State != stateLeased || r.Fence != res.d.fence {
				continue // taken over after this worker's lease ran out
			}
			if err := release(tx, id, r); err != nil {
				return err
			}
			switch {
			case errors.Is(res.err, errNoHandler):
				// Not a try: back in the queue for a process that has
				// the handler.
				r.State, r.Owner, r.Tries, r.Due = stateReady, "", r.Tries-1, now.Add(time.Second)
				if err := putRecord(tx, id, r); err != nil {
					return err
				}
				if err := ready(tx, r.Tenant, id, r.Due); err != nil {
					return err
				}
			case res.err == nil:
				if err := tx.Delete(bucketJobs, []byte(id)); err != nil {
					return err
				}
			case IsPermanent(res.err) || r.Tries >= r.MaxTries:
				if err := o.bury(tx, id, r, now, truncate(res.err.Error())); err != nil {
					return err
				}
			default:
				r.State, r.Owner, r.Error = stateReady, "", truncate(res.err.Error())
				r.Due = now.Add(o.backoff(r.Tries))
				if err := putRecord(tx, id, r); err != nil {
					return err
				}
				if err := ready(tx, r.Tenant, id, r.Due); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func truncate(s string) string {
	if len(s) > 512 {
		return s[:512]
	}
	return s
}

// backoff is the wait after try tries: Backoff doubled tries-1 times, at
// most MaxBackoff, drawn between half and all of it (equal jitter).
func (o *Outbox) backoff(tries int) time.Duration {
	d := o.cfg.Backoff
	for i := 1; i < tries && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxBackoff)
	return d/2 + mrand.N(d/2+1)
}
