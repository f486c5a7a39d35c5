// Package crypto is cardvault's key hierarchy: which key encrypts what, and
// the few operations the rest of cardvault is allowed to do with keys.
//
// It composes well-reviewed primitives and invents none: filippo.io/age for
// everything asymmetric or passphrase-based, XChaCha20-Poly1305
// (golang.org/x/crypto/chacha20poly1305) for records, HMAC-SHA-256 for keyed
// hashes and HKDF-SHA-256 for keys derived from high-entropy secrets.
//
// # The hierarchy
//
//	master Keyring (age identities, server config) ──wraps──▶ KEKs of terminals, the deployment hash key
//	PassphraseKey  (age identity locked by scrypt)  ──wraps──▶ the KEK of one vault key
//	KEK (a DataKey)                                  ──wraps──▶ one DataKey per record
//	DataKey                                          ──seals──▶ one record
//	grant secret (HKDF)                              ──seals──▶ what a capture grant needs to write
//
// age operations cost 100 µs (X25519) to a second (scrypt at work factor 18),
// while sealing a kilobyte record costs about a microsecond. So age only ever
// wraps key-encryption keys, which callers unwrap once and cache; records are
// sealed under per-record [DataKey]s, and deleting a record's wrapped data key
// crypto-shreds it.
//
// # Formats
//
// Every ciphertext starts with a version byte and the 8-byte [KeyID] of the
// key that made it, so that a reader knows which key to use and old data
// stays readable when keys rotate:
//
//	sealed record       0x01 | KeyID of the DataKey | 24-byte nonce | XChaCha20-Poly1305(ct ‖ tag)
//	DataKey wrapped by a KEK     same as a sealed record whose plaintext is the 32-byte key
//	DataKey wrapped by age       0x02 | KeyID of the age recipient | age ciphertext (binary)
//	sealed under a secret        0x03 | 24-byte nonce | XChaCha20-Poly1305(ct ‖ tag)
//
// The version byte and key id are authenticated as additional data, and every
// Seal takes caller-chosen additional data (a record's bucket and key, say)
// that Open must repeat: a ciphertext moved to another record does not open.
//
// # Caveats
//
// Wiping key material ([DataKey.Wipe], [PassphraseKey.Wipe]) is best effort:
// Go's garbage collector may have copied a slice before it is zeroed, and
// age's identity types keep their private scalar where this package cannot
// reach it. Wipe still shortens the time a key lingers in memory, which is
// what a cache eviction can do.
//
// Errors never contain key material, plaintext or secrets.
package crypto
