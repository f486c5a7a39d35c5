package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/store"
)

// DefaultCVVTTL is how long an item keeps a card verification code unless
// Config.CVVTTL says otherwise: an hour, the capture seed's "temporarily".
const DefaultCVVTTL = time.Hour

// CVVFields are the top-level fields of an item that hold a card
// verification code. The vault keeps them apart from the rest of the item
// and for a bounded time only (see the package documentation, "Card
// verification codes").
var CVVFields = []string{"cvv", "cvc", "cvv2", "cvc2", "cid", "csc", "security_code"}

// IsCVVField reports whether a top-level field of an item holds a card
// verification code (one of CVVFields, compared exactly).
func IsCVVField(field string) bool { return slices.Contains(CVVFields, field) }

// expiryCVV is package expiry's kind for an item's CVV; the key is the
// item's store key.
const expiryCVV = "vault.cvv"

// cvvRecord is an item's CVV fields as stored: a JSON object of them,
// sealed under the item's data key with additional data of its own, and
// when it goes.
type cvvRecord struct {
	// ID names this CVV, for ForgetCVV and the sweeper: a CVV captured
	// again is another one.
	ID      string    `json:"id"`
	Sealed  []byte    `json:"sealed"`
	Expires time.Time `json:"expires"`
}

// cvvAD binds a sealed CVV to its item and to its id.
func cvvAD(itemAD []byte, id string) []byte {
	return append(append(slices.Clone(itemAD), "\x00cvv\x00"...), id...)
}

// live reports whether the item's CVV may still be read at now.
func (c *cvvRecord) live(now time.Time) bool { return c != nil && now.Before(c.Expires) }

// splitCVV returns doc, a JSON object the vault accepted, without its CVV
// fields, and those fields as a JSON object of their own (nil when doc has
// none; a null member is no CVV and stays).
func splitCVV(doc []byte) (rest, cvv []byte) {
	root := gjson.ParseBytes(doc)
	has := false
	root.ForEach(func(k, v gjson.Result) bool {
		if IsCVVField(k.Str) && v.Type != gjson.Null {
			has = true
			return false
		}
		return true
	})
	if !has {
		return doc, nil
	}
	var r, c bytes.Buffer
	r.WriteByte('{')
	c.WriteByte('{')
	root.ForEach(func(k, v gjson.Result) bool {
		b := &r
		if IsCVVField(k.Str) && v.Type != gjson.Null {
			b = &c
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.WriteString(k.Raw)
		b.WriteByte(':')
		b.WriteString(v.Raw)
		return true
	})
	r.WriteByte('}')
	c.WriteByte('}')
	return r.Bytes(), c.Bytes()
}

// joinCVV returns the object rest with the members of the object cvv
// added at its end. rest holds none of them (splitCVV took them out).
func joinCVV(rest, cvv []byte) []byte {
	rest = bytes.TrimRight(rest, " \t\r\n")
	inner := bytes.TrimSpace(cvv)
	inner = inner[1 : len(inner)-1]
	out := make([]byte, 0, len(rest)+len(inner)+1)
	out = append(out, rest[:len(rest)-1]...) // without its '}'
	if len(bytes.TrimSpace(out)) > 1 {
		out = append(out, ',')
	}
	out = append(out, inner...)
	return append(out, '}')
}

// namesCVV reports whether a merge patch sets or removes a CVV field.
func namesCVV(mergePatch []byte) bool {
	found := false
	gjson.ParseBytes(mergePatch).ForEach(func(k, _ gjson.Result) bool {
		found = IsCVVField(k.Str)
		return !found
	})
	return found
}

// sealDoc seals an item's document under dk for the item at ad: the
// document without its CVV fields, and those apart (sealCVV). It returns
// the sealed document and the CVV record (nil: no CVV).
func (v *Vault) sealDoc(dk *crypto.DataKey, ad, doc []byte) ([]byte, *cvvRecord) {
	rest, cvv := splitCVV(doc)
	if cvv == nil {
		return dk.Seal(doc, ad), nil
	}
	defer clear(rest)
	return dk.Seal(rest, ad), v.sealCVV(dk, ad, cvv)
}

// sealCVV seals an item's CVV fields (a JSON object) as a new CVV, which
// lives v.cvvTTL from now.
func (v *Vault) sealCVV(dk *crypto.DataKey, ad, cvv []byte) *cvvRecord {
	defer clear(cvv)
	id := crypto.NewID(8)
	return &cvvRecord{ID: id, Sealed: dk.Seal(cvv, cvvAD(ad, id)), Expires: v.now().UTC().Add(v.cvvTTL)}
}

// openDoc opens an item's document with its data key: the sealed document,
// and its CVV fields while they live.
func (v *Vault) openDoc(rec *itemRecord, dk *crypto.DataKey, ad []byte) ([]byte, error) {
	doc, err := dk.Open(rec.Sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("vault: item: %w", err)
	}
	if !rec.CVV.live(v.now()) {
		return doc, nil
	}
	cvv, err := dk.Open(rec.CVV.Sealed, cvvAD(ad, rec.CVV.ID))
	if err != nil {
		return nil, fmt.Errorf("vault: item CVV: %w", err)
	}
	defer clear(cvv)
	joined := joinCVV(doc, cvv)
	clear(doc)
	return joined, nil
}

// setCVV records, inside tx, that the item at key now has the CVV c (nil:
// none) instead of old (nil: none), keeping the expiry index in step.
func setCVV(tx store.Tx, key []byte, old, c *cvvRecord) error {
	if old != nil && (c == nil || old.ID != c.ID) {
		if err := expiry.Clear(tx, expiryCVV, key, old.Expires); err != nil {
			return err
		}
	}
	if c != nil && (old == nil || old.ID != c.ID) {
		return expiry.Set(tx, expiryCVV, key, c.Expires)
	}
	return nil
}

// CVV names the card verification code an item held when it was read.
// The zero CVV is none.
type CVV struct {
	// ID names it for ForgetCVV: a CVV captured again is another one.
	ID string
	// Expires is when it goes.
	Expires time.Time
}

// RetrieveWithCVV returns the item under ref as Retrieve does, and the CVV
// it holds (the zero CVV when it holds none, or its CVV has expired): a
// caller that used the CVV — the proxy, after a payment service provider
// accepted a call that sent it — gives its ID to ForgetCVV.
func (v *Vault) RetrieveWithCVV(ctx context.Context, c Credentials, ref ItemRef) ([]byte, CVV, error) {
	if err := checkRef(ref); err != nil {
		return nil, CVV{}, err
	}
	key := itemKey(c.Owner, c.User, ref)
	ad := itemAD(key)
	var doc []byte
	var cvv CVV
	err := v.withKey(ctx, c, false, func(tx store.Tx, uk *unlockedKey) error {
		rec, dk, err := openItem(tx, uk, key, ad)
		if err != nil {
			return err
		}
		defer dk.Wipe()
		if doc, err = v.openDoc(rec, dk, ad); err != nil {
			return err
		}
		cvv = CVV{}
		if rec.CVV.live(v.now()) {
			cvv = CVV{ID: rec.CVV.ID, Expires: rec.CVV.Expires}
		}
		return nil
	})
	if err != nil {
		return nil, CVV{}, err
	}
	audit.NoteTo(ctx, v.audit, itemEvent(audit.OpItemRead, c.Owner, c.User, ref))
	return doc, cvv, nil
}

// ForgetCVV removes, inside tx, the CVV of owner's item under ref in the
// key for user — if it still holds the CVV named id (a CVV.ID):
// a CVV captured since is another one and stays. It needs no passphrase,
// since it opens nothing: the sealed CVV is dropped from the item's record,
// which is written again without it. An item that is gone, or holds no
// such CVV, is no error.
func (v *Vault) ForgetCVV(tx store.Tx, owner, user string, ref ItemRef, id string) error {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return err
	}
	if err := checkRef(ref); err != nil {
		return err
	}
	return forgetCVV(tx, itemKey(owner, user, ref), func(c *cvvRecord) bool { return c.ID == id })
}

// forgetCVV drops the CVV of the item at key when match says so.
func forgetCVV(tx store.Tx, key []byte, match func(*cvvRecord) bool) error {
	rec, err := getItem(tx, key)
	if errors.Is(err, ErrItemNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.CVV == nil || !match(rec.CVV) {
		return nil
	}
	if err := setCVV(tx, key, rec.CVV, nil); err != nil {
		return err
	}
	rec.CVV = nil
	return putItem(tx, key, rec)
}

func init() {
	// The sweeper has no passphrase, and needs none: it drops the sealed
	// CVV from the record.
	expiry.Handle(expiryCVV, func(tx store.Tx, key []byte, at time.Time) (bool, error) {
		removed := false
		err := forgetCVV(tx, key, func(c *cvvRecord) bool {
			removed = c.Expires.Equal(at)
			return removed
		})
		return removed, err
	})
}
