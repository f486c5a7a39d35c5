package audit

import "context"

// FlushInBackground chains as the background loop does: pending entries of
// the last pendingWindow only, unless a full scan is due.
func (l *Log) FlushInBackground(ctx context.Context) error { return l.flush(ctx, false) }

// The window and the full scans' period, for the tests' clocks.
const (
	PendingWindow = pendingWindow
	FullScanEvery = fullScanEvery
)
