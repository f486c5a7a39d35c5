package webhook_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/webhook"
)

// BenchmarkOutboxDeliveries: webhooks through the whole path on bbolt —
// 64 producers each enqueueing one job per transaction (as captures do),
// the outbox's workers claiming them and delivering each, signed, through
// the egress guard to a receiver on 127.0.0.1 — reported as deliveries per
// second and the wait of a job before its first try (p50, p99). Flat out,
// the producers outrun the workers and the waits are the backlog's; paced
// at 2,000 jobs per second, they are what a job waits at that load.
//
//	go test -run '^$' -bench OutboxDeliveries -benchtime 20000x -count 6 ./webhook
func BenchmarkOutboxDeliveries(b *testing.B) {
	b.Run("flat-out", func(b *testing.B) { benchDeliveries(b, 0) })
	b.Run("2000-per-second", func(b *testing.B) { benchDeliveries(b, 2000) })
}

func benchDeliveries(b *testing.B, rate float64) {
	ctx := context.Background()
	st := teststores.Boltstore.Open(b)
	kr := testkit.Keyring(b)
	var delivered atomic.Int64
	all := make(chan struct{})
	total := int64(b.N)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	g := testkit.Guard(b, egress.Config{AllowHTTP: true}, "127.0.0.1")
	o, err := outbox.Open(ctx, outbox.Config{Store: st, Keyring: kr, Workers: 64, PerTenant: 16, Poll: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	waits := make([]time.Duration, 0, b.N)
	body := []byte(`{"metadata":{"capture_id":"bench","reference":"r"},"token_info":{"token":"t"}}`)
	o.Handle("bench", func(ctx context.Context, d outbox.Delivery) error {
		if d.Try == 1 {
			enq := time.Unix(0, int64(binary.BigEndian.Uint64(d.Payload)))
			mu.Lock()
			waits = append(waits, time.Since(enq))
			mu.Unlock()
		}
		if err := webhook.Deliver(ctx, g, rcv.URL+"/hook", "whsec", d.ID, body, time.Now()); err != nil {
			return err
		}
		if delivered.Add(1) == total {
			close(all)
		}
		return nil
	})
	testkit.Background(b, o.Run)

	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for p := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				if rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))))
				}
				err := st.Update(ctx, func(tx store.Tx) error {
					payload := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
					_, err := o.Enqueue(tx, outbox.Job{Kind: "bench", Tenant: fmt.Sprintf("tenant-%d", p%16), Payload: payload})
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d delivered", delivered.Load(), total)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(waits)
	q := func(p float64) time.Duration { return waits[min(len(waits)-1, int(p*float64(len(waits))))] }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-wait-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-wait-ms")
}
