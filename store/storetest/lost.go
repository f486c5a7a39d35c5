package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/driver"
)

// LostCommits wraps a driver so that its next Lose Updates report that
// their commit's outcome is unknown (an error wrapping
// store.ErrCommitUnknown), as pgstore does when the primary fails over
// during COMMIT or its standby guard finds no standby: after committing,
// or with RollBack after rolling the transaction back — the two outcomes a
// caller cannot tell apart. Later Updates, and every View, pass through.
type LostCommits struct {
	driver.Store
	Lose     atomic.Int32
	RollBack bool
}

var errRolledBack = errors.New("storetest: rolled back")

// Update implements driver.Store.
func (l *LostCommits) Update(ctx context.Context, fn func(driver.Tx) error) error {
	if l.Lose.Add(-1) < 0 {
		l.Lose.Store(0)
		return l.Store.Update(ctx, fn)
	}
	err := l.Store.Update(ctx, func(tx driver.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if l.RollBack {
			return errRolledBack
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRolledBack) {
		return err
	}
	return fmt.Errorf("storetest: %w", store.ErrCommitUnknown)
}
