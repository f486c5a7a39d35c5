package store_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

// A read-modify-write in Update: the backend guarantees that no concurrent
// Update loses it. fn may run more than once, so it computes into variables
// it overwrites.
func ExampleStore_Update() {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()

	var next uint64
	err := s.Update(ctx, func(tx store.Tx) error {
		next = 1
		v, err := tx.Get("counters", []byte("orders"))
		switch {
		case err == nil:
			next = binary.BigEndian.Uint64(v) + 1
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		return tx.Put("counters", []byte("orders"), binary.BigEndian.AppendUint64(nil, next))
	})
	fmt.Println(next, err)
	// Output: 1 <nil>
}

// Keys sort bytewise, so a prefix selects a group, and a reverse scan with a
// limit finds the newest entries.
func ExampleTx_Scan() {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()

	_ = s.Update(ctx, func(tx store.Tx) error {
		for _, k := range []string{"alice/1", "alice/2", "alice/3", "bob/1"} {
			if err := tx.Put("items", []byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	_ = s.View(ctx, func(tx store.Tx) error {
		r := store.Prefix([]byte("alice/"))
		r.Reverse, r.Limit = true, 2
		return tx.Scan("items", r, func(key, _ []byte) error {
			fmt.Println(string(key))
			return nil
		})
	})
	// Output:
	// alice/3
	// alice/2
}
