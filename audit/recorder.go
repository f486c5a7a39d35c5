package audit

import (
	"context"
	"log/slog"

	"github.com/cardvault/cardvault/store"
)

// Recorder is what the services record their events through: a *Log, or a
// test's wrapper of one. Each service's Config takes one; nil means no
// audit, for an embedder that keeps no trail.
type Recorder interface {
	// Record writes e inside tx, the transaction of the write (see
	// Log.Record).
	Record(tx store.Tx, e Event) error
	// Note queues e, a read or a refusal (see Log.Note).
	Note(e Event) error
}

var _ Recorder = (*Log)(nil)

// RecordIn records e through r inside tx, the transaction of the write it
// describes, with its who-fields filled from ctx's Actor (see Event.By).
// A nil r records nothing. The services call it last in their work
// function, so that the entry commits, or rolls back, with the write.
func RecordIn(ctx context.Context, r Recorder, tx store.Tx, e Event) error {
	if r == nil {
		return nil
	}
	return r.Record(tx, e.By(ActorFrom(ctx)))
}

// NoteTo notes e through r — a read or a refusal — with its who-fields
// filled from ctx's Actor. A nil r notes nothing. It returns nothing: a
// read does not fail for its note, and the only error Note has is an
// event the trail refuses (an unknown operation: a bug), which is logged.
func NoteTo(ctx context.Context, r Recorder, e Event) {
	if r == nil {
		return
	}
	if err := r.Note(e.By(ActorFrom(ctx))); err != nil {
		slog.Default().ErrorContext(ctx, "audit: an event was refused", "op", string(e.Op), "err", err)
	}
}
