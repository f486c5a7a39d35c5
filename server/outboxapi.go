package server

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cardvault/cardvault/outbox"
)

// The outbox's dead letters, for the account whose jobs they are (HTTP
// Basic, as the vault/capture API): a webhook the outbox gave up on — its
// endpoint refused it every try, or it was refused for good — can be seen
// and sent again once the endpoint is fixed.
//
//	GET  /v1/outbox/dead-letters?after=<id>&limit=<n>
//	     → {"dead_letters": [{"id", "kind", "tries", "error", "enqueued_at", "died_at"}], "next": "<id>"}
//	POST /v1/outbox/dead-letters/{id}/retry
//	     → 202 {"id", "status": "queued"}; tried from the start, its delivery id unchanged
func (s *Server) registerOutboxRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/outbox/dead-letters", s.requireBasic(s.listDeadLetters))
	mux.HandleFunc("POST /v1/outbox/dead-letters/{id}/retry", s.requireBasic(s.retryDeadLetter))
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := limitParam(w, q, 100)
	if !ok {
		return
	}
	after := q.Get("after")
	if len(after) > 64 {
		writeError(w, http.StatusBadRequest, "after must be a dead letter's id")
		return
	}
	page, err := s.deployment.Outbox.DeadLetterPage(r.Context(), accountFrom(r.Context()), after, limit)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) retryDeadLetter(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.deployment.Outbox.Retry(r.Context(), accountFrom(r.Context()), id); err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued"})
}

// outboxCollectors are the outbox's metrics: this process's deliveries,
// retries and dead letters, and the dead letters the store holds.
func outboxCollectors(o *outbox.Outbox) []prometheus.Collector {
	return []prometheus.Collector{
		counterOf("outbox_delivered_total", "Outbox jobs (webhooks) this process delivered.", func() uint64 { return o.Stats().Delivered }),
		counterOf("outbox_retried_total", "Tries of outbox jobs that failed and were scheduled again.", func() uint64 { return o.Stats().Retried }),
		counterOf("outbox_dead_lettered_total", "Outbox jobs this process gave up on.", func() uint64 { return o.Stats().DeadLettered }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metricsNamespace, Name: "outbox_dead_letters",
			Help: "Dead letters in the store, of every account (counted up to 100000), waiting to be retried or to expire."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				n, err := o.CountDead(ctx, 100000)
				if err != nil {
					return -1
				}
				return float64(n)
			}),
	}
}
