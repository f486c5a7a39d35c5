package vault

import (
	"context"

	"github.com/cardvault/cardvault/store"
)

// SealedCVV returns the sealed CVV the item's record holds, nil for none:
// what a raw scan of the store must no longer find once the CVV is gone.
func SealedCVV(st *store.Store, owner, user string, ref ItemRef) []byte {
	var out []byte
	_ = st.View(context.Background(), func(tx store.Tx) error {
		rec, err := getItem(tx, itemKey(owner, user, ref))
		if err == nil && rec.CVV != nil {
			out = rec.CVV.Sealed
		}
		return nil
	})
	return out
}

// DamageItemKey flips a bit of the item's wrapped data key, as a damaged
// record would hold it.
func DamageItemKey(st *store.Store, owner, user string, ref ItemRef) error {
	key := itemKey(owner, user, ref)
	return st.Update(context.Background(), func(tx store.Tx) error {
		rec, err := getItem(tx, key)
		if err != nil {
			return err
		}
		rec.WrappedDK[len(rec.WrappedDK)-1] ^= 1
		return putItem(tx, key, rec)
	})
}
