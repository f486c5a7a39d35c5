package deployment

import (
	"context"
	"fmt"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/store"
)

// RewrapMasterKey re-wraps, for the master keyring's current identity,
// every key the deployment keeps under the master key: the vault's hash
// key, the secure tokens' index key and terminal keys, the deployment's own
// key, the outbox's payload key and the audit trail's key. Records are not
// touched. It returns how many wrapped keys changed, and records the
// rotation in the audit trail.
//
// A master-key rotation is: crypto.RotateKeyringFile (the new identity
// first, the old ones after it); restart every process with the new file;
// RewrapMasterKey in one of them; then remove the old identities from the
// file and restart again. examples/server -rotate-master-key does the
// first and third steps.
func (d *Deployment) RewrapMasterKey(ctx context.Context) (n int, err error) {
	defer func() {
		if rerr := d.recordRotation(ctx, n, err); err == nil {
			err = rerr
		}
	}()
	return d.rewrapMasterKey(ctx)
}

func (d *Deployment) rewrapMasterKey(ctx context.Context) (int, error) {
	n := 0
	changed, err := d.Vault.RewrapMasterKey(ctx)
	if err != nil {
		return n, err
	}
	if changed {
		n++
	}
	m, err := d.Tokens.RewrapMasterKey(ctx)
	n += m
	if err != nil {
		return n, err
	}
	m, err = wrappedkey.RewrapAll(ctx, d.cfg.Store, d.cfg.Keyring, keyBucket)
	n += m
	if err != nil {
		return n, fmt.Errorf("deployment: %w", err)
	}
	m, err = d.Outbox.RewrapMasterKey(ctx)
	n += m
	if err != nil {
		return n, err
	}
	if d.Audit == nil {
		return n, nil
	}
	m, err = d.Audit.RewrapMasterKey(ctx)
	n += m
	return n, err
}

// recordRotation records a master-key rotation in a transaction of its
// own: changed wrapped keys moved to the new identity, err how it ended.
func (d *Deployment) recordRotation(ctx context.Context, changed int, err error) error {
	e := audit.Event{Op: audit.OpMasterKeyRotated, Outcome: audit.OutcomeOK, Count: changed}
	if err != nil {
		e.Outcome = audit.OutcomeFailed
	}
	return d.cfg.Store.Update(ctx, func(tx store.Tx) error { return d.Audit.Record(tx, e) })
}
