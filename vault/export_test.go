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
