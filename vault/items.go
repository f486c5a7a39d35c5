package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/store"
)

// Algorithm is how a token is made from a number.
type Algorithm string

// Token algorithms.
const (
	// AlgorithmFull: 64 lowercase hex characters, a keyed hash of the number.
	AlgorithmFull Algorithm = "full"
	// AlgorithmLuhn: 16 Luhn-valid digits derived from a keyed hash of the
	// number, which must itself pass Luhn.
	AlgorithmLuhn Algorithm = "luhn"
)

// NumberFields are the fields a token is made from, in order of preference.
var NumberFields = []string{"number", "card_number", "n", "account_number"}

// ItemRef addresses an item within a vault key.
type ItemRef struct {
	Token     string
	Reference string
}

// TokenizeOptions tune Tokenize.
type TokenizeOptions struct {
	// Reference names the item; "" generates one.
	Reference string
	// Algorithm makes the token; "" means AlgorithmFull.
	Algorithm Algorithm
	// Number, when set, is tokenized instead of the item's number fields.
	Number string
	// AllowedFields, when not nil, lists the only top-level fields the item
	// may have.
	AllowedFields []string
	// Within, when not nil, runs inside the transaction that writes the
	// item, with the item's reference and its document as it is being
	// stored (valid only during the call: it is card data); an error from
	// it aborts the write and is returned. Package capture uses it to check
	// and use up a grant, and to queue the grant's webhook, in the same
	// transaction as the write they belong to.
	Within func(tx store.Tx, ref ItemRef, doc []byte) error
}

// UpdateOptions tune Update.
type UpdateOptions struct {
	// AllowedFields, when not nil, lists the only top-level fields the
	// update may name.
	AllowedFields []string
	// IfVersion, when not 0, makes the update fail with ErrVersion unless
	// the item is at that version.
	IfVersion uint64
	// Within is as for TokenizeOptions; doc is the merged item.
	Within func(tx store.Tx, ref ItemRef, doc []byte) error
}

// itemRecord is what is stored for an item.
type itemRecord struct {
	Version uint64 `json:"version"`
	// Wrap says what wraps the item's data key: "kek" (the vault key's KEK)
	// or "age" (the vault key's recipient, for items a capture grant stored
	// without the passphrase; the next Update re-wraps them under the KEK).
	Wrap      string    `json:"wrap"`
	WrappedDK []byte    `json:"dk"`
	Sealed    []byte    `json:"sealed"`
	Number    []byte    `json:"fp"` // keyed fingerprint of the tokenized number
	Updated   time.Time `json:"updated"`
	// CVV holds the item's CVV fields apart from Sealed, until they
	// expire (see cvv.go).
	CVV *cvvRecord `json:"cvv,omitempty"`
}

const (
	wrapKEK = "kek"
	wrapAge = "age"
)

func itemKey(owner, user string, ref ItemRef) []byte {
	k := itemPrefix(owner, user)
	k = append(k, ref.Token...)
	k = append(k, 0)
	return append(k, ref.Reference...)
}

// itemAD binds an item's ciphertext and wrapped key to where it is stored.
func itemAD(key []byte) []byte {
	return append([]byte("vault.items\x00"), key...)
}

func getItem(tx store.Tx, key []byte) (*itemRecord, error) {
	raw, err := tx.Get(bucketItems, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrItemNotFound
	}
	if err != nil {
		return nil, err
	}
	var r itemRecord
	if err := decodeItemRecord(raw, &r); err != nil {
		return nil, fmt.Errorf("vault: stored item is corrupt: %w", err)
	}
	return &r, nil
}

func putItem(tx store.Tx, key []byte, r *itemRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketItems, key, raw)
}

func checkRef(ref ItemRef) error {
	if err := checkName("token", ref.Token, maxTokLen, false); err != nil {
		return err
	}
	return checkName("reference", ref.Reference, maxRefLen, false)
}

// checkDoc validates an item or update document: strict JSON within the
// size limit, an object, with only allowed top-level fields.
func (v *Vault) checkDoc(doc []byte, allowed []string) error {
	err := jsonx.Check(doc, jsonx.Limits{MaxBytes: v.maxItem, MaxDepth: 32})
	if errors.Is(err, jsonx.ErrTooLarge) {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(doc), v.maxItem)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !gjson.ParseBytes(doc).IsObject() {
		return fmt.Errorf("%w: the document must be a JSON object", ErrInvalid)
	}
	if allowed == nil {
		return nil
	}
	var bad []string
	gjson.ParseBytes(doc).ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(allowed, k.Str) {
			bad = append(bad, k.Str)
		}
		return true
	})
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrFieldNotAllowed, strings.Join(bad, ", "))
	}
	return nil
}

// numberField returns the normalized number a field of a document holds.
func numberField(field string, r gjson.Result) (string, error) {
	switch r.Type {
	case gjson.String:
		return normalizeNumber(field, r.Str)
	case gjson.Number:
		return normalizeNumber(field, r.Raw)
	}
	return "", fmt.Errorf("%w: %s must be a string of digits", ErrInvalid, field)
}

// numberSeparators are what people type between a number's digits. A
// Replacer is safe for concurrent use, and building one costs more than
// using it.
var numberSeparators = strings.NewReplacer(" ", "", "-", "")

// normalizeNumber strips the spaces and dashes people type in numbers and
// checks what is left: 1 to 64 letters and digits (bank account numbers may
// hold letters).
func normalizeNumber(field, s string) (string, error) {
	s = numberSeparators.Replace(s)
	if s == "" || len(s) > 64 {
		return "", fmt.Errorf("%w: %s must hold 1 to 64 digits or letters", ErrInvalid, field)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", fmt.Errorf("%w: %s holds a character other than digits, letters, spaces and dashes", ErrInvalid, field)
		}
	}
	return s, nil
}

// numberOf returns the number to tokenize: override, or the first number
// field of doc.
func numberOf(doc []byte, override string) (string, error) {
	if override != "" {
		return normalizeNumber("number", override)
	}
	for _, f := range NumberFields {
		if r := gjson.GetBytes(doc, f); r.Exists() {
			return numberField(f, r)
		}
	}
	return "", ErrNoNumber
}

func (v *Vault) token(alg Algorithm, number string) (string, error) {
	switch alg {
	case "", AlgorithmFull:
		return v.hasher.Hex("vault.token.full", []byte(number)), nil
	case AlgorithmLuhn:
		if !luhn.Valid(number) {
			return "", fmt.Errorf("%w: the number fails the Luhn check the luhn algorithm needs", ErrInvalid)
		}
		seed := v.hasher.Sum("vault.token.luhn", []byte(number))
		return luhn.Generate("", 16, &seedReader{seed: seed})
	default:
		return "", fmt.Errorf("%w: unknown algorithm (want full or luhn)", ErrInvalid)
	}
}

// seedReader is a deterministic stream of bytes from a keyed hash:
// SHA-256(seed || counter) blocks, for luhn.Generate's rejection sampling.
type seedReader struct {
	seed [32]byte
	n    uint64
	buf  []byte
}

func (r *seedReader) Read(p []byte) (int, error) {
	read := 0
	for read < len(p) {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.BigEndian.PutUint64(c[:], r.n)
			r.n++
			b := sha256.Sum256(append(r.seed[:], c[:]...))
			r.buf = b[:]
		}
		k := copy(p[read:], r.buf)
		r.buf = r.buf[k:]
		read += k
	}
	return read, nil
}

// prepare validates a new item and computes its address and fingerprint.
func (v *Vault) prepare(owner, user string, doc []byte, opts TokenizeOptions) (ItemRef, []byte, error) {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return ItemRef{}, nil, err
	}
	if err := v.checkDoc(doc, opts.AllowedFields); err != nil {
		return ItemRef{}, nil, err
	}
	number, err := numberOf(doc, opts.Number)
	if err != nil {
		return ItemRef{}, nil, err
	}
	tok, err := v.token(opts.Algorithm, number)
	if err != nil {
		return ItemRef{}, nil, err
	}
	ref := ItemRef{Token: tok, Reference: opts.Reference}
	if ref.Reference == "" {
		ref.Reference = crypto.NewID(16)
	}
	if err := checkRef(ref); err != nil {
		return ItemRef{}, nil, err
	}
	fp := v.hasher.Sum("vault.number", []byte(number))
	return ref, fp[:], nil
}

// Tokenize stores the JSON object doc under the key c opens and returns its
// token and reference. An item already stored under the same token and
// reference is replaced (its version goes up by one; grants locked to it
// stop working, as its data key changes).
func (v *Vault) Tokenize(ctx context.Context, c Credentials, doc []byte, opts TokenizeOptions) (ItemRef, error) {
	ref, fp, err := v.prepare(c.Owner, c.User, doc, opts)
	if err != nil {
		return ItemRef{}, err
	}
	key := itemKey(c.Owner, c.User, ref)
	ad := itemAD(key)
	dk := crypto.NewDataKey()
	defer dk.Wipe()
	sealed, cvv := v.sealDoc(dk, ad, doc)
	err = v.withKey(ctx, c, true, func(tx store.Tx, uk *unlockedKey) error {
		return v.putNew(ctx, tx, c.Owner, c.User, &itemRecord{Wrap: wrapKEK, WrappedDK: uk.kek.Wrap(dk, ad), Sealed: sealed, Number: fp, CVV: cvv}, ref, doc, opts.Within)
	})
	if err != nil {
		return ItemRef{}, err
	}
	return ref, nil
}

// putNew stores a new item of owner's key for user, replacing (and
// superseding the version of) an item at the same address, after within,
// and records it.
func (v *Vault) putNew(ctx context.Context, tx store.Tx, owner, user string, rec *itemRecord, ref ItemRef, doc []byte, within func(store.Tx, ItemRef, []byte) error) error {
	key := itemKey(owner, user, ref)
	if within != nil {
		if err := within(tx, ref, doc); err != nil {
			return err
		}
	}
	rec.Version = 1
	old, err := getItem(tx, key)
	switch {
	case err == nil:
		rec.Version = old.Version + 1
	case errors.Is(err, ErrItemNotFound):
		old = &itemRecord{}
	default:
		return err
	}
	if err := setCVV(tx, key, old.CVV, rec.CVV); err != nil {
		return err
	}
	rec.Updated = v.now().UTC()
	if err := tx.Put(bucketNumbers, append(append([]byte(nil), rec.Number...), key...), nil); err != nil {
		return err
	}
	if err := putItem(tx, key, rec); err != nil {
		return err
	}
	return audit.RecordIn(ctx, v.audit, tx, itemEvent(audit.OpItemStored, owner, user, ref))
}

// putUpdated writes back the item rec of owner's key for user that merge
// updated, and records it.
func (v *Vault) putUpdated(ctx context.Context, tx store.Tx, owner, user string, ref ItemRef, rec *itemRecord) error {
	if err := putItem(tx, itemKey(owner, user, ref), rec); err != nil {
		return err
	}
	return audit.RecordIn(ctx, v.audit, tx, itemEvent(audit.OpItemUpdated, owner, user, ref))
}

// deleteItem removes an item, its entry in the number index and its CVV's
// in the expiry index.
func deleteItem(tx store.Tx, key []byte, rec *itemRecord) error {
	if err := tx.Delete(bucketNumbers, append(append([]byte(nil), rec.Number...), key...)); err != nil {
		return err
	}
	if err := setCVV(tx, key, rec.CVV, nil); err != nil {
		return err
	}
	return tx.Delete(bucketItems, key)
}

// HoldsNumber reports whether any item of any key was tokenized from
// number (spaces and dashes ignored). The secure-token package asks it so
// that a token it mints never equals a card number the vault holds.
func (v *Vault) HoldsNumber(ctx context.Context, number string) (bool, error) {
	n, err := normalizeNumber("number", number)
	if err != nil {
		return false, err
	}
	fp := v.hasher.Sum("vault.number", []byte(n))
	found := false
	err = v.st.View(ctx, func(tx store.Tx) error {
		found = false
		return tx.Scan(bucketNumbers, store.Range{Start: fp[:], End: store.PrefixEnd(fp[:]), Limit: 1}, func(_, _ []byte) error {
			found = true
			return nil
		})
	})
	return found, err
}

// openItem reads the item stored under key and unwraps its data key with
// the unlocked vault key. The caller wipes the data key when done.
func openItem(tx store.Tx, uk *unlockedKey, key, ad []byte) (*itemRecord, *crypto.DataKey, error) {
	rec, err := getItem(tx, key)
	if err != nil {
		return nil, nil, err
	}
	dk, err := itemKeyFor(uk, rec, ad)
	if err != nil {
		return nil, nil, fmt.Errorf("vault: item key: %w", err)
	}
	return rec, dk, nil
}

// itemKeyFor unwraps an item's data key with an unlocked vault key.
func itemKeyFor(uk *unlockedKey, rec *itemRecord, ad []byte) (*crypto.DataKey, error) {
	switch rec.Wrap {
	case wrapKEK:
		return uk.kek.Unwrap(rec.WrappedDK, ad)
	case wrapAge:
		return uk.identity.Unwrap(rec.WrappedDK)
	}
	return nil, fmt.Errorf("vault: stored item has unknown key wrapping %q", rec.Wrap)
}

// Retrieve returns the item stored under ref with the key c opens — with
// its CVV fields while they live (see RetrieveWithCVV).
func (v *Vault) Retrieve(ctx context.Context, c Credentials, ref ItemRef) ([]byte, error) {
	doc, _, err := v.RetrieveWithCVV(ctx, c, ref)
	return doc, err
}

// Update merges the JSON object mergePatch into the item under ref (RFC
// 7396) and returns its new version. See the package documentation for the
// rules.
func (v *Vault) Update(ctx context.Context, c Credentials, ref ItemRef, mergePatch []byte, opts UpdateOptions) (uint64, error) {
	if err := v.checkUpdate(ref, mergePatch, opts); err != nil {
		return 0, err
	}
	key := itemKey(c.Owner, c.User, ref)
	ad := itemAD(key)
	var version uint64
	err := v.withKey(ctx, c, true, func(tx store.Tx, uk *unlockedKey) error {
		rec, dk, err := openItem(tx, uk, key, ad)
		if err != nil {
			return err
		}
		defer dk.Wipe()
		if rec.Wrap == wrapAge {
			rec.Wrap, rec.WrappedDK = wrapKEK, uk.kek.Wrap(dk, ad)
		}
		if _, err := v.merge(tx, key, ref, rec, dk, mergePatch, opts); err != nil {
			return err
		}
		version = rec.Version
		return v.putUpdated(ctx, tx, c.Owner, c.User, ref, rec)
	})
	return version, err
}

func (v *Vault) checkUpdate(ref ItemRef, mergePatch []byte, opts UpdateOptions) error {
	if err := checkRef(ref); err != nil {
		return err
	}
	return v.checkDoc(mergePatch, opts.AllowedFields)
}

// merge applies mergePatch to the item rec holds, in place, under the
// immutability and version rules, and returns the merged document. The
// item's CVV is merged with the rest while it lives: a patch that names a
// CVV field gives the item a new CVV (with a new expiry) or none; one that
// does not keeps the CVV as it was, expiry included — or drops it once it
// has expired.
func (v *Vault) merge(tx store.Tx, key []byte, ref ItemRef, rec *itemRecord, dk *crypto.DataKey, mergePatch []byte, opts UpdateOptions) ([]byte, error) {
	ad := itemAD(key)
	if opts.IfVersion != 0 && rec.Version != opts.IfVersion {
		return nil, fmt.Errorf("%w: at version %d, not %d", ErrVersion, rec.Version, opts.IfVersion)
	}
	doc, err := v.openDoc(rec, dk, ad)
	if err != nil {
		return nil, err
	}
	defer clear(doc)
	if err := v.checkNumbers(doc, mergePatch, rec.Number); err != nil {
		return nil, err
	}
	merged, err := patch.Merge(doc, mergePatch)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(merged) > v.maxItem {
		return nil, fmt.Errorf("%w: the merged item would be %d bytes, at most %d", ErrTooLarge, len(merged), v.maxItem)
	}
	if opts.Within != nil {
		if err := opts.Within(tx, ref, merged); err != nil {
			return nil, err
		}
	}
	rest, cvvDoc := splitCVV(merged)
	var cvv *cvvRecord
	switch {
	case !namesCVV(mergePatch) && rec.CVV.live(v.now()):
		cvv = rec.CVV // unchanged: the same CVV, the same expiry
		clear(cvvDoc)
	case cvvDoc != nil:
		cvv = v.sealCVV(dk, ad, cvvDoc)
	}
	sealed := dk.Seal(rest, ad)
	if cvvDoc != nil {
		clear(rest) // a copy; merged is the caller's
	}
	if err := setCVV(tx, key, rec.CVV, cvv); err != nil {
		return nil, err
	}
	rec.Sealed, rec.CVV = sealed, cvv
	rec.Version++
	rec.Updated = v.now().UTC()
	return merged, nil
}

// checkNumbers refuses a patch that changes or removes a number field: each
// one it names must keep its stored value, or — where the item has none —
// carry the tokenized number.
func (v *Vault) checkNumbers(doc, mergePatch, fp []byte) error {
	for _, f := range NumberFields {
		p := gjson.GetBytes(mergePatch, f)
		if !p.Exists() {
			continue
		}
		if p.Type == gjson.Null {
			return fmt.Errorf("%w (%s cannot be removed)", ErrNumberImmutable, f)
		}
		got, err := numberField(f, p)
		if err != nil {
			return err
		}
		if old := gjson.GetBytes(doc, f); old.Exists() {
			want, err := numberField(f, old)
			if err == nil && crypto.EqualString(got, want) {
				continue
			}
		} else {
			sum := v.hasher.Sum("vault.number", []byte(got))
			if crypto.Equal(sum[:], fp) {
				continue
			}
		}
		return fmt.Errorf("%w (%s differs)", ErrNumberImmutable, f)
	}
	return nil
}

// Delete removes owner's item under ref in the key for user. Its data key
// goes with it, so no copy of the sealed item can be opened again.
func (v *Vault) Delete(ctx context.Context, owner, user string, ref ItemRef) error {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return err
	}
	if err := checkRef(ref); err != nil {
		return err
	}
	key := itemKey(owner, user, ref)
	return v.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getRawKeyRecord(tx, owner, user); err != nil {
			return err
		}
		rec, err := getItem(tx, key)
		if err != nil {
			return err
		}
		if err := deleteItem(tx, key, rec); err != nil {
			return err
		}
		return audit.RecordIn(ctx, v.audit, tx, itemEvent(audit.OpItemDeleted, owner, user, ref))
	})
}

// List returns up to limit (at most 1000) items of owner's key for user,
// in order, starting after after (the zero ItemRef for the first page). It
// Resolve completes ref, an item of owner's key for user named by its
// token and perhaps its reference: the vault/capture API lets a client
// leave the reference out when exactly one item of the key has the token.
// A ref with a reference (or without a token) is returned as it is; a
// token that no item has is ErrItemNotFound, one that several have
// ErrAmbiguousToken.
func (v *Vault) Resolve(ctx context.Context, owner, user string, ref ItemRef) (ItemRef, error) {
	if ref.Reference != "" || ref.Token == "" {
		return ref, nil
	}
	// Items sort by token, then reference: the first two after (token, "")
	// tell whether the token has one item or several.
	items, err := v.List(ctx, owner, user, ItemRef{Token: ref.Token}, 2)
	if err != nil {
		return ItemRef{}, err
	}
	var found []ItemRef
	for _, it := range items {
		if it.Token == ref.Token {
			found = append(found, it)
		}
	}
	switch len(found) {
	case 0:
		return ItemRef{}, ErrItemNotFound
	case 1:
		return found[0], nil
	}
	return ItemRef{}, ErrAmbiguousToken
}

// needs no passphrase: tokens and references are not secret.
func (v *Vault) List(ctx context.Context, owner, user string, after ItemRef, limit int) ([]ItemRef, error) {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return nil, err
	}
	prefix := itemPrefix(owner, user)
	var last []byte
	if after != (ItemRef{}) {
		last = itemKey(owner, user, after)
	}
	limit = cardvault.PageSize(limit)
	var out []ItemRef
	err := v.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		if _, err := getRawKeyRecord(tx, owner, user); err != nil {
			return err
		}
		return tx.Scan(bucketItems, store.PageAfter(prefix, last, limit), func(k, _ []byte) error {
			tok, ref, ok := bytes.Cut(k[len(prefix):], []byte{0})
			if !ok {
				return fmt.Errorf("vault: stored item key is corrupt")
			}
			out = append(out, ItemRef{Token: string(tok), Reference: string(ref)})
			return nil
		})
	})
	return out, err
}
