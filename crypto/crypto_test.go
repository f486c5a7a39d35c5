package crypto_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
)

var update = flag.Bool("update", false, "rewrite testdata/age_golden.json")

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestVectors opens ciphertexts made by libsodium and Python
// (testdata/vectors.py), so the formats are checked against an independent
// implementation, not only against themselves.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	require.NoError(t, err)
	var v struct {
		SealedRecord struct {
			Key, AD, Plaintext, Sealed string
			KeyID                      string `json:"key_id"`
		} `json:"sealed_record"`
		Wrapped    struct{ KEK, AD, Inner, Sealed string }             `json:"wrapped_data_key"`
		SecretBox  struct{ Secret, Context, Plaintext, Sealed string } `json:"secret_box"`
		Hasher     struct{ Key, Label, Data, Sum string }              `json:"hasher"`
		SecretHash struct{ Secret, Hash string }                       `json:"secret_hash"`
	}
	require.NoError(t, json.Unmarshal(raw, &v))

	t.Run("sealed record", func(t *testing.T) {
		k, err := crypto.DataKeyFromBytes(unhex(t, v.SealedRecord.Key))
		require.NoError(t, err)
		require.Equal(t, v.SealedRecord.KeyID, k.ID().String())
		sealed := unhex(t, v.SealedRecord.Sealed)
		id, err := crypto.SealedKeyID(sealed)
		require.NoError(t, err)
		require.Equal(t, k.ID(), id)
		pt, err := k.Open(sealed, unhex(t, v.SealedRecord.AD))
		require.NoError(t, err)
		require.Equal(t, unhex(t, v.SealedRecord.Plaintext), pt)
	})
	t.Run("data key wrapped by a KEK", func(t *testing.T) {
		kek, err := crypto.DataKeyFromBytes(unhex(t, v.Wrapped.KEK))
		require.NoError(t, err)
		inner, err := kek.Unwrap(unhex(t, v.Wrapped.Sealed), unhex(t, v.Wrapped.AD))
		require.NoError(t, err)
		want, err := crypto.DataKeyFromBytes(unhex(t, v.Wrapped.Inner))
		require.NoError(t, err)
		require.Equal(t, want.ID(), inner.ID())
	})
	t.Run("secret box", func(t *testing.T) {
		pt, err := crypto.OpenWithSecret(v.SecretBox.Secret, unhex(t, v.SecretBox.Context), unhex(t, v.SecretBox.Sealed))
		require.NoError(t, err)
		require.Equal(t, unhex(t, v.SecretBox.Plaintext), pt)
	})
	t.Run("hasher", func(t *testing.T) {
		h, err := crypto.NewHasher(unhex(t, v.Hasher.Key))
		require.NoError(t, err)
		require.Equal(t, v.Hasher.Sum, h.Hex(v.Hasher.Label, []byte(v.Hasher.Data)))
	})
	t.Run("secret hash", func(t *testing.T) {
		got := crypto.HashSecret(v.SecretHash.Secret)
		require.Equal(t, v.SecretHash.Hash, hex.EncodeToString(got[:]))
	})
}

func TestDataKeySealOpen(t *testing.T) {
	k := crypto.NewDataKey()
	other := crypto.NewDataKey()
	require.NotEqual(t, k.ID(), other.ID())
	pt := []byte(`{"card_number":"4242424242424242"}`)
	ad := []byte("bucket/key")

	sealed := k.Seal(pt, ad)
	require.Len(t, sealed, len(pt)+crypto.SealOverhead)
	require.False(t, bytes.Contains(sealed, []byte("4242")), "the plaintext shows through")
	require.NotEqual(t, sealed, k.Seal(pt, ad), "two seals of one plaintext must differ (random nonce)")

	got, err := k.Open(sealed, ad)
	require.NoError(t, err)
	require.Equal(t, pt, got)

	_, err = k.Open(sealed, []byte("bucket/other"))
	require.ErrorIs(t, err, crypto.ErrOpen, "a record moved to another place must not open")
	_, err = other.Open(sealed, ad)
	require.ErrorIs(t, err, crypto.ErrOpen)
	require.ErrorIs(t, err, cardvault.ErrUnauthorized)

	// Every single-bit flip anywhere is caught.
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		_, err := k.Open(c, ad)
		require.Error(t, err, "flip at byte %d went unnoticed", i)
	}
	_, err = k.Open(sealed[:crypto.SealOverhead-1], ad)
	require.ErrorIs(t, err, crypto.ErrFormat)
	_, err = k.Open(nil, ad)
	require.ErrorIs(t, err, cardvault.ErrInvalid)

	empty := k.Seal(nil, nil)
	got, err = k.Open(empty, nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestDataKeyWrapAndWipe(t *testing.T) {
	kek := crypto.NewDataKey()
	dk := crypto.NewDataKey()
	w := kek.Wrap(dk, []byte("item-1"))
	got, err := kek.Unwrap(w, []byte("item-1"))
	require.NoError(t, err)
	require.Equal(t, dk.ID(), got.ID())
	_, err = kek.Unwrap(w, []byte("item-2"))
	require.ErrorIs(t, err, crypto.ErrOpen)

	sealed := dk.Seal([]byte("x"), nil)
	dk.Wipe()
	_, err = dk.Open(sealed, nil)
	require.ErrorIs(t, err, crypto.ErrOpen, "a wiped key must open nothing")

	_, err = crypto.DataKeyFromBytes(make([]byte, 31))
	require.ErrorIs(t, err, crypto.ErrFormat)
}

func TestSecretBox(t *testing.T) {
	secret := crypto.NewSecret()
	ctx := []byte("grant-id")
	sealed := crypto.SealWithSecret(secret, ctx, []byte("payload"))
	pt, err := crypto.OpenWithSecret(secret, ctx, sealed)
	require.NoError(t, err)
	require.Equal(t, []byte("payload"), pt)

	_, err = crypto.OpenWithSecret(crypto.NewSecret(), ctx, sealed)
	require.ErrorIs(t, err, crypto.ErrOpen)
	_, err = crypto.OpenWithSecret(secret, []byte("other-grant"), sealed)
	require.ErrorIs(t, err, crypto.ErrOpen, "a secret of one grant must not open another's box")
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 0x80
		_, err := crypto.OpenWithSecret(secret, ctx, c)
		require.Error(t, err)
	}
	_, err = crypto.OpenWithSecret(secret, ctx, sealed[:10])
	require.ErrorIs(t, err, crypto.ErrFormat)
}

func TestSecrets(t *testing.T) {
	seen := map[string]bool{}
	alphabet := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for range 100 {
		s := crypto.NewSecret()
		require.Len(t, s, crypto.SecretLen)
		require.Regexp(t, alphabet, s)
		require.False(t, seen[s])
		seen[s] = true
	}
	id := crypto.NewID(16)
	require.Len(t, id, 22)
	require.Regexp(t, alphabet, id)

	s := crypto.NewSecret()
	h := crypto.HashSecret(s)
	require.True(t, h.Verify(s))
	require.False(t, h.Verify(s[:63]))
	require.False(t, h.Verify(crypto.NewSecret()))
	back, err := crypto.ParseSecretHash(h[:])
	require.NoError(t, err)
	require.Equal(t, h, back)
	_, err = crypto.ParseSecretHash(h[:5])
	require.ErrorIs(t, err, crypto.ErrFormat)

	require.True(t, crypto.EqualString("abc", "abc"))
	require.False(t, crypto.EqualString("abc", "abd"))
	require.False(t, crypto.Equal([]byte("abc"), []byte("ab")))
}

func TestHasher(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	h1, err := crypto.NewHasher(k1)
	require.NoError(t, err)
	h2, err := crypto.NewHasher(bytes.Repeat([]byte{2}, 32))
	require.NoError(t, err)
	n := []byte("4242424242424242")
	require.Equal(t, h1.Sum("token", n), h1.Sum("token", n), "deterministic")
	require.NotEqual(t, h1.Sum("token", n), h1.Sum("email", n), "labels separate uses")
	require.NotEqual(t, h1.Sum("token", n), h2.Sum("token", n), "keys separate deployments")
	require.Regexp(t, `^[0-9a-f]{64}$`, h1.Hex("token", n))

	// New is Sum in pieces, and again after Reset.
	m := h1.New("token")
	for range 2 {
		m.Write(n[:5])
		m.Write(n[5:])
		want := h1.Sum("token", n)
		require.Equal(t, want[:], m.Sum(nil))
		m.Reset()
	}
	_, err = crypto.NewHasher(k1[:16])
	require.ErrorIs(t, err, crypto.ErrFormat)
}

// The keyed state a Hasher keeps per label gives what deriving it anew
// gives: HMAC(HMAC(key, label), data), for the first use of a label and the
// later ones, for more labels than it keeps, and from many goroutines.
func TestHasherKeptLabels(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h, err := crypto.NewHasher(key)
	require.NoError(t, err)
	want := func(label string, data []byte) [32]byte {
		lk := hmac.New(sha256.New, key)
		lk.Write([]byte(label))
		m := hmac.New(sha256.New, lk.Sum(nil))
		m.Write(data)
		return [32]byte(m.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 600 {
				label := fmt.Sprint("label-", i%300)
				data := []byte(fmt.Sprint(g, "/", i))
				if got := h.Sum(label, data); got != want(label, data) {
					t.Errorf("Sum(%q, %q) differs from the derivation", label, data)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestKeyringFileAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "master.key")
	kr, err := crypto.CreateKeyringFile(path)
	require.NoError(t, err)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	_, err = crypto.CreateKeyringFile(path)
	require.Error(t, err, "an existing master key must never be overwritten")

	kek := crypto.NewDataKey()
	w1 := wrapWith(t, kr, kek)

	loaded, err := crypto.LoadKeyring(path)
	require.NoError(t, err)
	requireUnwraps(t, loaded, w1, kek)

	// Rotation: a new current identity; old wraps still open; Rewrap moves them.
	rotated, err := crypto.RotateKeyringFile(path)
	require.NoError(t, err)
	require.NotEqual(t, kr.Current(), rotated.Current())
	requireUnwraps(t, rotated, w1, kek)
	w2, changed, err := rotated.Rewrap(w1)
	require.NoError(t, err)
	require.True(t, changed)
	id, _ := crypto.WrappedBy(w2)
	require.Equal(t, rotated.Current(), id)
	_, changed, err = rotated.Rewrap(w2)
	require.NoError(t, err)
	require.False(t, changed)

	// Retire the old identity: only what was re-wrapped still opens.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	var keep []string
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			if n++; n > 1 {
				continue
			}
		}
		keep = append(keep, l)
	}
	retired, err := crypto.ParseKeyring(strings.NewReader(strings.Join(keep, "\n")))
	require.NoError(t, err)
	requireUnwraps(t, retired, w2, kek)
	_, err = retired.Unwrap(w1)
	require.ErrorIs(t, err, crypto.ErrOpen)

	// A master key others can read is refused.
	require.NoError(t, os.Chmod(path, 0o644))
	_, err = crypto.LoadKeyring(path)
	require.ErrorContains(t, err, "chmod 600")
}

// TestNewKeyring: an in-memory keyring wraps and unwraps as a file's does,
// and each is a new identity: what one wraps, another does not open.
func TestNewKeyring(t *testing.T) {
	kr, err := crypto.NewKeyring()
	require.NoError(t, err)
	kek := crypto.NewDataKey()
	w := wrapWith(t, kr, kek)
	requireUnwraps(t, kr, w, kek)

	other, err := crypto.NewKeyring()
	require.NoError(t, err)
	require.NotEqual(t, kr.Current(), other.Current())
	_, err = other.Unwrap(w)
	require.ErrorIs(t, err, crypto.ErrOpen)
}

// wrapWith wraps k with kr, and checks that what it wrote names kr's current
// identity.
func wrapWith(t *testing.T, kr *crypto.Keyring, k *crypto.DataKey) []byte {
	t.Helper()
	w, err := kr.Wrap(k)
	require.NoError(t, err)
	id, err := crypto.WrappedBy(w)
	require.NoError(t, err)
	require.Equal(t, kr.Current(), id)
	return w
}

// requireUnwraps checks that kr unwraps wrapped to the key want.
func requireUnwraps(t *testing.T, kr *crypto.Keyring, wrapped []byte, want *crypto.DataKey) {
	t.Helper()
	got, err := kr.Unwrap(wrapped)
	require.NoError(t, err)
	require.Equal(t, want.ID(), got.ID())
}

func TestParseKeyringErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"comment only": "# nothing\n",
		"garbage":      "AGE-SECRET-KEY-1NOTBECH32\n",
		"public key":   "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := crypto.ParseKeyring(strings.NewReader(in))
			require.ErrorIs(t, err, crypto.ErrFormat)
			require.NotContains(t, err.Error(), "NOTBECH32", "errors must not echo key material")
		})
	}
}

func TestPassphraseKey(t *testing.T) {
	const wf = 10 // cheap for tests; production uses DefaultWorkFactor
	k, err := crypto.NewPassphraseKey()
	require.NoError(t, err)
	locked, err := k.Lock("correct horse battery staple", wf)
	require.NoError(t, err)
	require.NotContains(t, string(locked), "AGE-SECRET-KEY", "the private half must not be stored in clear")

	_, err = crypto.UnlockPassphraseKey(locked, "wrong passphrase", wf)
	require.ErrorIs(t, err, crypto.ErrOpen)
	_, err = crypto.UnlockPassphraseKey(locked, "", wf)
	require.ErrorIs(t, err, crypto.ErrOpen)
	_, err = crypto.UnlockPassphraseKey(locked, "correct horse battery staple", wf-1)
	require.Error(t, err, "a lock costing more than the allowed work factor must be refused")

	u, err := crypto.UnlockPassphraseKey(locked, "correct horse battery staple", wf)
	require.NoError(t, err)
	require.Equal(t, k.Recipient(), u.Recipient())
	require.Equal(t, k.ID(), u.ID())

	// Anyone can wrap for the recipient; only the unlocked key unwraps.
	dk := crypto.NewDataKey()
	w, err := crypto.WrapTo(k.Recipient(), dk)
	require.NoError(t, err)
	got, err := u.Unwrap(w)
	require.NoError(t, err)
	require.Equal(t, dk.ID(), got.ID())
	other, err := crypto.NewPassphraseKey()
	require.NoError(t, err)
	_, err = other.Unwrap(w)
	require.ErrorIs(t, err, crypto.ErrOpen)

	// Re-lock under a new passphrase: the old one stops working.
	relocked, err := u.Lock("a new passphrase", wf)
	require.NoError(t, err)
	_, err = crypto.UnlockPassphraseKey(relocked, "correct horse battery staple", wf)
	require.ErrorIs(t, err, crypto.ErrOpen)
	u2, err := crypto.UnlockPassphraseKey(relocked, "a new passphrase", wf)
	require.NoError(t, err)
	got, err = u2.Unwrap(w)
	require.NoError(t, err)
	require.Equal(t, dk.ID(), got.ID())

	_, err = k.Lock("", wf)
	require.ErrorIs(t, err, crypto.ErrFormat)
	_, err = k.Lock("x", 31)
	require.ErrorIs(t, err, crypto.ErrFormat)
	_, err = crypto.WrapTo("not-a-recipient", dk)
	require.ErrorIs(t, err, crypto.ErrFormat)

	u2.Wipe()
	_, err = u2.Unwrap(w)
	require.ErrorIs(t, err, crypto.ErrOpen, "a wiped key must unwrap nothing")
}

// TestAgeGolden opens a master key file, a key wrapped by it and a locked
// vault key that earlier versions wrote (testdata/age_golden.json): data at
// rest must stay readable across releases. -update rewrites the file.
func TestAgeGolden(t *testing.T) {
	const path = "testdata/age_golden.json"
	type golden struct {
		Keyring     string `json:"keyring"`
		Wrapped     string `json:"wrapped"`
		KeyID       string `json:"key_id"`
		Locked      string `json:"locked"`
		Passphrase  string `json:"passphrase"`
		Recipient   string `json:"recipient"`
		WrappedToPK string `json:"wrapped_to_passphrase_key"`
	}
	if *update {
		dir := t.TempDir()
		kr, err := crypto.CreateKeyringFile(filepath.Join(dir, "k"))
		require.NoError(t, err)
		raw, err := os.ReadFile(filepath.Join(dir, "k"))
		require.NoError(t, err)
		dk := crypto.NewDataKey()
		w, err := kr.Wrap(dk)
		require.NoError(t, err)
		pk, err := crypto.NewPassphraseKey()
		require.NoError(t, err)
		locked, err := pk.Lock("golden passphrase", 10)
		require.NoError(t, err)
		w2, err := pk.Wrap(dk)
		require.NoError(t, err)
		out, err := json.MarshalIndent(golden{
			Keyring: string(raw), Wrapped: hex.EncodeToString(w), KeyID: dk.ID().String(),
			Locked: hex.EncodeToString(locked), Passphrase: "golden passphrase",
			Recipient: pk.Recipient(), WrappedToPK: hex.EncodeToString(w2),
		}, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(out, '\n'), 0o644))
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var g golden
	require.NoError(t, json.Unmarshal(raw, &g))
	kr, err := crypto.ParseKeyring(strings.NewReader(g.Keyring))
	require.NoError(t, err)
	dk, err := kr.Unwrap(unhex(t, g.Wrapped))
	require.NoError(t, err)
	require.Equal(t, g.KeyID, dk.ID().String())
	pk, err := crypto.UnlockPassphraseKey(unhex(t, g.Locked), g.Passphrase, 10)
	require.NoError(t, err)
	require.Equal(t, g.Recipient, pk.Recipient())
	dk2, err := pk.Unwrap(unhex(t, g.WrappedToPK))
	require.NoError(t, err)
	require.Equal(t, g.KeyID, dk2.ID().String())
}

func TestSealKeyWithSecret(t *testing.T) {
	secret := crypto.NewSecret()
	dk := crypto.NewDataKey()
	box := crypto.SealKeyWithSecret(secret, []byte("g1"), dk)
	got, err := crypto.OpenKeyWithSecret(secret, []byte("g1"), box)
	require.NoError(t, err)
	require.Equal(t, dk.ID(), got.ID())
	_, err = crypto.OpenKeyWithSecret(secret, []byte("g2"), box)
	require.ErrorIs(t, err, crypto.ErrOpen)
	_, err = crypto.OpenKeyWithSecret(secret, []byte("g1"), crypto.SealWithSecret(secret, []byte("g1"), []byte("short")))
	require.ErrorIs(t, err, crypto.ErrFormat)
}
