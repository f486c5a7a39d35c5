// Package wrappedkey keeps data keys in a store wrapped by the master
// keyring: the deployment hash keys of the vault and the secure tokens, and
// the key-encryption key of each processing terminal.
//
// The first process to ask for a key creates it; the store serializes
// concurrent creators, so every process ends up with the same key. After a
// master-key rotation, Rewrap moves each wrapped key to the keyring's
// current identity without changing the key itself, so nothing sealed
// under it is touched.
package wrappedkey

import (
	"context"
	"errors"
	"fmt"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Load returns the key stored under name in bucket, creating it when
// create is set and it is missing. A missing key without create is an error
// wrapping store.ErrNotFound.
func Load(ctx context.Context, st *store.Store, kr *crypto.Keyring, bucket string, name []byte, create bool) (*crypto.DataKey, error) {
	var wrapped []byte
	read := func(tx store.Tx) error {
		w, err := tx.Get(bucket, name)
		wrapped = w
		return err
	}
	err := st.View(ctx, read)
	if errors.Is(err, store.ErrNotFound) && create {
		err = st.Update(ctx, func(tx store.Tx) error {
			if err := read(tx); !errors.Is(err, store.ErrNotFound) {
				return err // another process created it first, or a failure
			}
			k := crypto.NewDataKey()
			defer k.Wipe()
			w, err := kr.Wrap(k)
			if err != nil {
				return err
			}
			wrapped = w
			return tx.Put(bucket, name, w)
		})
	}
	if err != nil {
		return nil, err
	}
	k, err := kr.Unwrap(wrapped)
	if err != nil {
		return nil, fmt.Errorf("a key in %s does not open with this master key: %w", bucket, err)
	}
	return k, nil
}

// RewrapAll re-wraps every key in bucket for the keyring's current
// identity and returns how many changed.
func RewrapAll(ctx context.Context, st *store.Store, kr *crypto.Keyring, bucket string) (int, error) {
	changed := 0
	err := st.Update(ctx, func(tx store.Tx) error {
		changed = 0
		type kv struct{ k, v []byte }
		var todo []kv
		err := tx.Scan(bucket, store.Range{}, func(k, v []byte) error {
			nv, ch, err := kr.Rewrap(v)
			if err != nil {
				return fmt.Errorf("re-wrapping a key in %s: %w", bucket, err)
			}
			if ch {
				todo = append(todo, kv{k, nv})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range todo {
			if err := tx.Put(bucket, e.k, e.v); err != nil {
				return err
			}
		}
		changed = len(todo)
		return nil
	})
	return changed, err
}
