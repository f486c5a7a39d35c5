package server

import (
	"context"
	"fmt"

	"github.com/cardvault/cardvault/internal/wrappedkey"
)

// RewrapMasterKey re-wraps, for the master keyring's current identity,
// every key the deployment keeps under the master key: the vault's hash
// key, the secure tokens' index key and terminal keys, and the server's own
// key, the outbox's payload key and the audit trail's key. Records are not
// touched. It returns how many wrapped keys changed, and records the
// rotation in the audit trail.
//
// A master-key rotation is: crypto.RotateKeyringFile (the new identity
// first, the old ones after it); restart every server with the new file;
// RewrapMasterKey on one of them; then remove the old identities from the
// file and restart again. examples/server -rotate-master-key does the
// first and third steps.
func (s *Server) RewrapMasterKey(ctx context.Context) (n int, err error) {
	defer func() {
		if rerr := s.recordRotation(ctx, n, err); err == nil {
			err = rerr
		}
	}()
	return s.rewrapMasterKey(ctx)
}

func (s *Server) rewrapMasterKey(ctx context.Context) (int, error) {
	n := 0
	changed, err := s.vault.RewrapMasterKey(ctx)
	if err != nil {
		return n, err
	}
	if changed {
		n++
	}
	m, err := s.tokens.RewrapMasterKey(ctx)
	n += m
	if err != nil {
		return n, err
	}
	m, err = wrappedkey.RewrapAll(ctx, s.cfg.Store, s.cfg.Keyring, serverKeyBucket)
	n += m
	if err != nil {
		return n, fmt.Errorf("server: %w", err)
	}
	m, err = s.outbox.RewrapMasterKey(ctx)
	n += m
	if err != nil {
		return n, err
	}
	if s.audit == nil {
		return n, nil
	}
	m, err = s.audit.RewrapMasterKey(ctx)
	n += m
	return n, err
}
