package crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// maxWrapped bounds what age is asked to decrypt when unwrapping a key: a
// wrapped DataKey is a few hundred bytes (X25519) or about 1.2 KB (hybrid).
const maxWrapped = 16 << 10

// ageKey is one age identity with its recipient and id.
type ageKey struct {
	id        KeyID
	identity  age.Identity
	recipient age.Recipient
	public    string
}

func newAgeKey(identity age.Identity) (ageKey, error) {
	var r interface {
		age.Recipient
		String() string
	}
	switch i := identity.(type) {
	case *age.X25519Identity:
		r = i.Recipient()
	case *age.HybridIdentity:
		r = i.Recipient()
	default:
		return ageKey{}, fmt.Errorf("%w: unsupported age identity type %T", ErrFormat, identity)
	}
	return ageKey{id: recipientID(r.String()), identity: identity, recipient: r, public: r.String()}, nil
}

func recipientID(public string) KeyID {
	h := sha256.Sum256([]byte("cardvault age recipient id v1\x00" + public))
	var id KeyID
	copy(id[:], h[:])
	return id
}

func parseRecipient(public string) (age.Recipient, error) {
	switch {
	case strings.HasPrefix(public, "age1pq1"):
		return age.ParseHybridRecipient(public)
	case strings.HasPrefix(public, "age1"):
		return age.ParseX25519Recipient(public)
	}
	return nil, fmt.Errorf("%w: not an age recipient", ErrFormat)
}

// wrapTo wraps k for an age recipient: 0x02 | recipient id | age ciphertext.
func wrapTo(r age.Recipient, id KeyID, k *DataKey) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(versionAgeWrap)
	buf.Write(id[:])
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("crypto: age wrap: %w", err)
	}
	if _, err := w.Write(k.key[:]); err != nil {
		return nil, fmt.Errorf("crypto: age wrap: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("crypto: age wrap: %w", err)
	}
	return buf.Bytes(), nil
}

// WrappedBy returns the id of the age recipient a key was wrapped for by
// [Keyring.Wrap] or [WrapTo].
func WrappedBy(wrapped []byte) (KeyID, error) {
	var id KeyID
	if len(wrapped) < 1+len(id) || wrapped[0] != versionAgeWrap {
		return id, fmt.Errorf("%w: not an age-wrapped key", ErrFormat)
	}
	copy(id[:], wrapped[1:])
	return id, nil
}

func unwrapWith(wrapped []byte, identities ...age.Identity) (*DataKey, error) {
	if _, err := WrappedBy(wrapped); err != nil {
		return nil, err
	}
	if len(wrapped) > maxWrapped {
		return nil, fmt.Errorf("%w: wrapped key is %d bytes, over %d", ErrFormat, len(wrapped), maxWrapped)
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped[1+len(KeyID{}):]), identities...)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrOpen
		}
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, DataKeySize+1))
	if err != nil {
		return nil, ErrOpen
	}
	defer clear(b)
	return DataKeyFromBytes(b)
}

// WrapTo wraps k for the age recipient public (an "age1..." X25519 or
// "age1pq1..." hybrid public key). Anyone may wrap for a recipient; only its
// identity unwraps. A capture grant uses this to store new cards for a vault
// key whose passphrase it does not know.
func WrapTo(public string, k *DataKey) ([]byte, error) {
	r, err := parseRecipient(public)
	if err != nil {
		return nil, err
	}
	return wrapTo(r, recipientID(public), k)
}

// Keyring is the server's master key: one or more age identities (X25519 or
// hybrid post-quantum ML-KEM-768 + X25519), the first of which is current.
// It wraps the key-encryption keys of everything that has no passphrase of
// its own (secure tokens, the deployment hash key). Rotation adds a new
// current identity and keeps the old ones for unwrapping until everything
// has been re-wrapped ([Keyring.Rewrap]); records are never touched.
type Keyring struct {
	keys []ageKey
}

// ParseKeyring reads an age identity file: one "AGE-SECRET-KEY-1..." or
// "AGE-SECRET-KEY-PQ-1..." per line, '#' comments and blank lines ignored.
// The first identity is the current one.
func ParseKeyring(r io.Reader) (*Keyring, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		// age's errors name line numbers, never key material.
		return nil, fmt.Errorf("%w: master key: %v", ErrFormat, err)
	}
	kr := new(Keyring)
	for _, id := range ids {
		k, err := newAgeKey(id)
		if err != nil {
			return nil, err
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// LoadKeyring reads the identity file at path. It refuses a file that
// others than its owner can read or write, as ssh does for private keys.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("crypto: master key %s has permissions %v; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	return ParseKeyring(f)
}

// NewKeyring returns a keyring of one new hybrid post-quantum identity that
// lives in memory only: what wraps with it is lost with the process. It is
// for what is as short-lived — a test, an example, a deployment over a
// memstore. A master key that must outlive the process is a file
// ([CreateKeyringFile]).
func NewKeyring() (*Keyring, error) {
	id, err := generateIdentity()
	if err != nil {
		return nil, err
	}
	return keyringOf(id)
}

// generateIdentity generates a new current identity: hybrid post-quantum
// (ML-KEM-768 + X25519).
func generateIdentity() (*age.HybridIdentity, error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("crypto: generating master key: %w", err)
	}
	return id, nil
}

// keyringOf returns the keyring of id alone.
func keyringOf(id age.Identity) (*Keyring, error) {
	k, err := newAgeKey(id)
	if err != nil {
		return nil, err
	}
	return &Keyring{keys: []ageKey{k}}, nil
}

// CreateKeyringFile generates a new hybrid post-quantum identity and writes
// it to a new file at path with permissions 0600. It fails if path exists.
func CreateKeyringFile(path string) (*Keyring, error) {
	id, err := generateIdentity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	content := keyringFileHeader + id.String() + "\n"
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	return keyringOf(id)
}

const keyringFileHeader = "# cardvault master key (age identities; the first is current). Keep it secret, keep it safe.\n"

// RotateKeyringFile generates a new current identity and rewrites the file
// at path with it first and the old identities after it, atomically (a new
// file renamed over the old). Callers then re-wrap what the old identities
// wrapped ([Keyring.Rewrap]) before removing them from the file.
func RotateKeyringFile(path string) (*Keyring, error) {
	old, err := LoadKeyring(path)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	defer clear(raw)
	id, err := generateIdentity()
	if err != nil {
		return nil, err
	}
	tmp := path + ".rotate"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	defer os.Remove(tmp)
	var body bytes.Buffer
	body.WriteString(keyringFileHeader + id.String() + "\n")
	for line := range strings.SplitSeq(string(raw), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			body.WriteString(line + "\n")
		}
	}
	_, werr := f.Write(body.Bytes())
	clear(body.Bytes())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, fmt.Errorf("crypto: master key: %w", werr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("crypto: master key: %w", err)
	}
	k, err := newAgeKey(id)
	if err != nil {
		return nil, err
	}
	return &Keyring{keys: append([]ageKey{k}, old.keys...)}, nil
}

// Current returns the id of the identity that wraps.
func (kr *Keyring) Current() KeyID { return kr.keys[0].id }

// Wrap wraps k for the current identity.
func (kr *Keyring) Wrap(k *DataKey) ([]byte, error) {
	c := kr.keys[0]
	return wrapTo(c.recipient, c.id, k)
}

// Unwrap unwraps a key wrapped by this keyring under any of its identities.
func (kr *Keyring) Unwrap(wrapped []byte) (*DataKey, error) {
	id, err := WrappedBy(wrapped)
	if err != nil {
		return nil, err
	}
	for _, k := range kr.keys {
		if k.id == id {
			return unwrapWith(wrapped, k.identity)
		}
	}
	return nil, fmt.Errorf("%w (wrapped for master key %s, which this keyring does not hold)", ErrOpen, id)
}

// Rewrap returns wrapped re-wrapped for the current identity, and whether
// that changed anything (false when the current identity wrapped it).
func (kr *Keyring) Rewrap(wrapped []byte) ([]byte, bool, error) {
	id, err := WrappedBy(wrapped)
	if err != nil {
		return nil, false, err
	}
	if id == kr.Current() {
		return wrapped, false, nil
	}
	k, err := kr.Unwrap(wrapped)
	if err != nil {
		return nil, false, err
	}
	defer k.Wipe()
	out, err := kr.Wrap(k)
	return out, err == nil, err
}

// PassphraseKey is a vault key: an age identity whose private half is
// stored only locked by a passphrase (age's scrypt recipient), so that what
// it protects cannot be read with the database and the server's
// configuration alone.
type PassphraseKey struct {
	ageKey
	secret []byte // the identity's string encoding, kept to re-lock it
}

// DefaultWorkFactor is the scrypt work factor (log2 N) for passphrase
// locks: about a second on the machines cardvault targets, the cost a
// brute-force attacker pays per guess.
const DefaultWorkFactor = 18

// NewPassphraseKey generates a new vault key identity (hybrid
// post-quantum). Lock it before storing it.
func NewPassphraseKey() (*PassphraseKey, error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("crypto: generating vault key: %w", err)
	}
	k, err := newAgeKey(id)
	if err != nil {
		return nil, err
	}
	return &PassphraseKey{ageKey: k, secret: []byte(id.String())}, nil
}

// Lock returns the key's private half encrypted under passphrase with the
// given scrypt work factor (log2 N, 1..30; 0 means DefaultWorkFactor).
func (p *PassphraseKey) Lock(passphrase string, workFactor int) ([]byte, error) {
	if workFactor == 0 {
		workFactor = DefaultWorkFactor
	}
	if workFactor < 1 || workFactor > 30 {
		return nil, fmt.Errorf("%w: scrypt work factor %d outside 1..30", ErrFormat, workFactor)
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("%w: passphrase must not be empty", ErrFormat)
	}
	r.SetWorkFactor(workFactor)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, fmt.Errorf("crypto: locking vault key: %w", err)
	}
	if _, err := w.Write(p.secret); err != nil {
		return nil, fmt.Errorf("crypto: locking vault key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("crypto: locking vault key: %w", err)
	}
	return buf.Bytes(), nil
}

// UnlockPassphraseKey opens a key locked by Lock. A wrong passphrase gives
// an error wrapping ErrOpen. maxWorkFactor bounds the scrypt cost a stored
// lock may demand (0 means DefaultWorkFactor), so that a tampered record
// cannot make the server spend minutes per request.
func UnlockPassphraseKey(locked []byte, passphrase string, maxWorkFactor int) (*PassphraseKey, error) {
	if maxWorkFactor == 0 {
		maxWorkFactor = DefaultWorkFactor
	}
	si, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, ErrOpen // empty passphrase
	}
	si.SetMaxWorkFactor(maxWorkFactor)
	r, err := age.Decrypt(bytes.NewReader(locked), si)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) {
			return nil, ErrOpen
		}
		return nil, fmt.Errorf("%w: locked vault key: %v", ErrFormat, err)
	}
	secret, err := io.ReadAll(io.LimitReader(r, 4<<10))
	if err != nil {
		return nil, ErrOpen
	}
	ids, err := age.ParseIdentities(bytes.NewReader(secret))
	if err != nil || len(ids) != 1 {
		clear(secret)
		return nil, fmt.Errorf("%w: locked vault key holds no single identity", ErrFormat)
	}
	k, err := newAgeKey(ids[0])
	if err != nil {
		clear(secret)
		return nil, err
	}
	return &PassphraseKey{ageKey: k, secret: secret}, nil
}

// Recipient returns the key's public half ("age1pq1..."), which [WrapTo]
// wraps for without the passphrase.
func (p *PassphraseKey) Recipient() string { return p.public }

// ID returns the id of the key's public half.
func (p *PassphraseKey) ID() KeyID { return p.id }

// Wrap wraps k for this key (the same as WrapTo(p.Recipient(), k)).
func (p *PassphraseKey) Wrap(k *DataKey) ([]byte, error) {
	return wrapTo(p.recipient, p.id, k)
}

// Unwrap unwraps a DataKey wrapped for this key.
func (p *PassphraseKey) Unwrap(wrapped []byte) (*DataKey, error) {
	id, err := WrappedBy(wrapped)
	if err != nil {
		return nil, err
	}
	if id != p.id || p.identity == nil {
		return nil, ErrOpen
	}
	return unwrapWith(wrapped, p.identity)
}

// Wipe zeroes the copy of the private key this value holds; see the package
// caveats.
func (p *PassphraseKey) Wipe() {
	clear(p.secret)
	p.identity = nil
}
