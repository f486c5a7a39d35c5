package vault

import (
	"context"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Grant is what a capture grant needs from the vault to write for a vault
// key without its passphrase. Package capture seals it under the grant's
// secret; it must never be stored as it is.
type Grant struct {
	Owner, User string
	// Recipient is the key's public age recipient: items stored with it
	// (StoreForRecipient) can be read only with the passphrase.
	Recipient string
	// Item and ItemKey are set for a grant locked to one item: ItemKey is
	// that item's data key, which UpdateWithKey writes with.
	Item    *ItemRef
	ItemKey *crypto.DataKey
}

// GrantFor checks the credentials c and returns what a grant for their key
// needs; with item, also that item's data key (the item must exist).
func (v *Vault) GrantFor(ctx context.Context, c Credentials, item *ItemRef) (Grant, error) {
	if item != nil {
		if err := checkRef(*item); err != nil {
			return Grant{}, err
		}
	}
	g := Grant{Owner: c.Owner, User: c.User}
	err := v.withKey(ctx, c, false, func(tx store.Tx, uk *unlockedKey) error {
		g.Recipient = uk.identity.Recipient()
		if item == nil {
			return nil
		}
		key := itemKey(c.Owner, c.User, *item)
		_, dk, err := openItem(tx, uk, key, itemAD(key))
		if err != nil {
			return err
		}
		g.ItemKey = dk
		ref := *item
		g.Item = &ref
		return nil
	})
	return g, err
}

// StoreForRecipient stores a new item for owner's key for user, as
// Tokenize does, but without the passphrase: its data key is wrapped for
// the key's public recipient, which must still be the stored key's (a
// deleted or re-created key refuses with ErrWrongKey).
func (v *Vault) StoreForRecipient(ctx context.Context, owner, user, recipient string, doc []byte, opts TokenizeOptions) (ItemRef, error) {
	ref, fp, err := v.prepare(owner, user, doc, opts)
	if err != nil {
		return ItemRef{}, err
	}
	key := itemKey(owner, user, ref)
	ad := itemAD(key)
	dk := crypto.NewDataKey()
	defer dk.Wipe()
	sealed, cvv := v.sealDoc(dk, ad, doc)
	wrapped, err := crypto.WrapTo(recipient, dk)
	if err != nil {
		return ItemRef{}, err
	}
	err = v.st.Update(ctx, func(tx store.Tx) error {
		rec, err := getKeyRecord(tx, owner, user)
		if err != nil || rec.Recipient != recipient {
			return ErrWrongKey
		}
		return v.putNew(ctx, tx, owner, user, &itemRecord{Wrap: wrapAge, WrappedDK: wrapped, Sealed: sealed, Number: fp, CVV: cvv}, ref, doc, opts.Within)
	})
	if err != nil {
		return ItemRef{}, err
	}
	return ref, nil
}

// UpdateWithKey merges mergePatch into owner's item under ref as Update
// does, but with the item's data key instead of the passphrase. It returns
// the merged item (sensitive: callers pick safe fields from it and drop
// it) and its new version. An item that was replaced or deleted since dk was
// handed out gives ErrItemNotFound.
func (v *Vault) UpdateWithKey(ctx context.Context, owner, user string, ref ItemRef, dk *crypto.DataKey, mergePatch []byte, opts UpdateOptions) ([]byte, uint64, error) {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return nil, 0, err
	}
	if err := v.checkUpdate(ref, mergePatch, opts); err != nil {
		return nil, 0, err
	}
	key := itemKey(owner, user, ref)
	var merged []byte
	var version uint64
	err := v.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getRawKeyRecord(tx, owner, user); err != nil {
			return ErrWrongKey
		}
		rec, err := getItem(tx, key)
		if err != nil {
			return err
		}
		if id, err := crypto.SealedKeyID(rec.Sealed); err != nil || id != dk.ID() {
			return ErrItemNotFound // replaced: not the item the grant was made for
		}
		if merged, err = v.merge(tx, key, ref, rec, dk, mergePatch, opts); err != nil {
			return err
		}
		version = rec.Version
		return v.putUpdated(ctx, tx, owner, user, ref, rec)
	})
	if err != nil {
		return nil, 0, err
	}
	return merged, version, nil
}
