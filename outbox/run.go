package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/store"
)

// errNoHandler: this process has no handler for the job's kind.
var errNoHandler = errors.New("outbox: no handler for this kind here")

// Run claims and delivers jobs with Config.Workers workers until ctx is
// done, then waits for the tries in flight to end (their contexts end with
// ctx) and returns. Run it once per process; any number of processes may
// run it on one store.
func (o *Outbox) Run(ctx context.Context) {
	results := make(chan result, o.cfg.Workers)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		o.finisher(results)
	}()
	poll := time.NewTimer(0)
	defer poll.Stop()
	inFlight := 0
	for ctx.Err() == nil {
		// The workers whose outcomes were recorded meanwhile: they come
		// in bursts (the finisher records many in one transaction), and
		// are all free before the next claim, so that one claim takes
		// many jobs rather than one claim per job.
		for drained := false; !drained; {
			select {
			case <-o.done:
				inFlight--
			default:
				drained = true
			}
		}
		free := o.cfg.Workers - inFlight
		busy := false
		if free > 0 {
			ds, err := o.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				o.cfg.Logger.Warn("outbox: claiming jobs failed", "err", err)
			}
			for _, d := range ds {
				inFlight++
				go func() { results <- result{d: d, err: o.try(ctx, d)} }()
			}
			busy = len(ds) == free
		} else {
			busy = true
		}
		if busy {
			// Every worker is busy: wait for one, then claim again.
			select {
			case <-ctx.Done():
			case <-o.done:
				inFlight--
			}
			continue
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
		poll.Reset(o.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-o.kick:
		case <-poll.C:
		case <-o.done:
			inFlight--
		}
	}
	// Wait for the tries in flight; the finisher records them.
	for range inFlight {
		<-o.done
	}
	close(results)
	<-finished
}

// try runs one delivery under a context that ends before its lease.
func (o *Outbox) try(ctx context.Context, d Delivery) (err error) {
	h := o.handler(d.Kind)
	if h == nil {
		return errNoHandler
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.Lease-leaseMargin)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel) // shutting down ends the try
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("outbox: the %s handler panicked", d.Kind)
		}
	}()
	return h(tctx, d)
}

// finisher records outcomes, as many per transaction as have arrived, and
// then frees their workers.
func (o *Outbox) finisher(results <-chan result) {
	for res := range results {
		batch := []result{res}
		for more := true; more && len(batch) < 256; {
			select {
			case r, ok := <-results:
				if !ok {
					more = false
					break
				}
				batch = append(batch, r)
			default:
				more = false
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := o.finish(ctx, batch)
		cancel()
		if err != nil {
			// The leases run out and the jobs are tried again: at least
			// once, not exactly once.
			o.cfg.Logger.Warn("outbox: recording the outcome of tries failed", "jobs", len(batch), "err", err)
		}
		for _, r := range batch {
			o.count(r, err == nil)
			o.done <- r
		}
	}
}

func (o *Outbox) count(r result, recorded bool) {
	switch {
	case !recorded || errors.Is(r.err, errNoHandler):
	case r.err == nil:
		o.delivered.Add(1)
	case r.d.Try >= r.d.MaxTries || IsPermanent(r.err):
		o.dead.Add(1)
		o.cfg.Logger.Warn("outbox: a job was dead-lettered", "kind", r.d.Kind, "tenant", r.d.Tenant, "id", r.d.ID, "try", r.d.Try, "err", r.err)
	default:
		o.retried.Add(1)
		o.cfg.Logger.Info("outbox: a try failed; it will be tried again", "kind", r.d.Kind, "tenant", r.d.Tenant, "id", r.d.ID, "try", r.d.Try, "err", r.err)
	}
}

// DeadLetter describes a job that was given up on.
//
// Its JSON is a dead letter as its tenant sees it: {"id", "kind", "tries",
// "error", "enqueued_at", "died_at"}, times in UTC, never the tenant.
type DeadLetter struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	Tenant   string    `json:"-"`
	Tries    int       `json:"tries"`
	Error    string    `json:"error"` // the last try's
	Enqueued time.Time `json:"enqueued_at"`
	Died     time.Time `json:"died_at"`
}

// DeadLetters lists tenant's dead letters in id order (the order they
// were enqueued), up to limit (at most 1000) after the id after.
func (o *Outbox) DeadLetters(ctx context.Context, tenant, after string, limit int) ([]DeadLetter, error) {
	limit = cardvault.PageSize(limit)
	prefix := tenantKey(tenant, "")
	var last []byte
	if after != "" {
		last = tenantKey(tenant, after)
	}
	var out []DeadLetter
	err := o.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(bucketDead, store.PageAfter(prefix, last, limit), func(k, _ []byte) error {
			id := string(k[len(prefix):])
			r, err := getRecord(tx, id)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			out = append(out, DeadLetter{ID: id, Kind: r.Kind, Tenant: r.Tenant, Tries: r.Tries, Error: r.Error,
				Enqueued: r.Enqueued.UTC(), Died: r.Died.UTC()})
			return nil
		})
	})
	return out, err
}

// DeadLetterPage is a page of dead letters, and the id to list the next
// page after ("" on the last): {"dead_letters": [...], "next"}.
type DeadLetterPage struct {
	DeadLetters []DeadLetter `json:"dead_letters"`
	Next        string       `json:"next,omitempty"`
}

// DeadLetterPage lists up to limit of tenant's dead letters after the id
// after (as DeadLetters), with Next set when there are more.
func (o *Outbox) DeadLetterPage(ctx context.Context, tenant, after string, limit int) (DeadLetterPage, error) {
	dead, err := o.DeadLetters(ctx, tenant, after, limit+1)
	if err != nil {
		return DeadLetterPage{}, err
	}
	page := DeadLetterPage{DeadLetters: []DeadLetter{}}
	for i, d := range dead {
		if i == limit {
			page.Next = dead[limit-1].ID
			break
		}
		page.DeadLetters = append(page.DeadLetters, d)
	}
	return page, nil
}

// CountDead returns how many dead letters the store holds, of every
// tenant, counting at most limit.
func (o *Outbox) CountDead(ctx context.Context, limit int) (int, error) {
	n := 0
	err := o.st.View(ctx, func(tx store.Tx) error {
		n = 0
		return tx.Scan(bucketDead, store.Range{Limit: limit}, func(_, _ []byte) error {
			n++
			return nil
		})
	})
	return n, err
}

// Retry puts tenant's dead letter id back in the queue, due at once, with
// its tries counted from zero again.
func (o *Outbox) Retry(ctx context.Context, tenant, id string) error {
	return o.st.Update(ctx, func(tx store.Tx) error {
		r, err := getRecord(tx, id)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if r.State != stateDead || r.Tenant != tenant {
			return ErrNotFound
		}
		now := o.cfg.Now().UTC()
		if err := tx.Delete(bucketDead, tenantKey(tenant, id)); err != nil {
			return err
		}
		if err := expiry.Clear(tx, expiryDead, []byte(id), r.Died.Add(o.cfg.DeadTTL)); err != nil {
			return err
		}
		r.State, r.Tries, r.Due, r.Error, r.Died = stateReady, 0, now, "", time.Time{}
		if err := putRecord(tx, id, r); err != nil {
			return err
		}
		if err := ready(tx, tenant, id, now); err != nil {
			return err
		}
		return store.OnCommit(tx, o.wake)
	})
}
