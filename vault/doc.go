// Package vault keeps card and bank data encrypted under vault keys and
// addresses it by token and reference — the model of the vault/capture API
// (see the project's reference on it), as a Go library with no HTTP in it.
//
// # Keys
//
// A vault key is a user name and a passphrase, owned by an account (a tenant
// of the deployment; "" for a library user who has one). The passphrase is
// never stored: it unlocks, through age's scrypt recipient, the private half
// of an age identity that wraps the key's key-encryption key (KEK). Without
// the passphrase, the database and the server's configuration together open
// nothing stored under the key. Unknown users and wrong passphrases give the
// same error, [ErrWrongKey], after the same scrypt work, so a caller cannot
// probe which users exist.
//
// Unlocking costs about a second by design (scrypt work factor 18), so the
// vault caches unlocked keys in memory for a bounded time ([Config.CacheTTL],
// [Config.CacheSize]), keyed by a MAC of owner, user and passphrase under a
// key that lives only in this process; a wrong passphrase is never cached,
// and evicted entries are zeroed. A cached key is used only while the
// stored key is the one it was unlocked from: a passphrase change or a
// deletion, by this process or another, takes effect at once.
//
// # Items
//
// [Vault.Tokenize] stores a JSON object and returns its token and reference.
// The token comes from the first of the fields "number", "card_number", "n",
// "account_number" (or [TokenizeOptions.Number]):
//
//   - [AlgorithmFull] (the default): 64 lowercase hex characters, an
//     HMAC-SHA-256 of the number under the deployment's hash key — the same
//     number gives the same token throughout a deployment, and nobody without
//     that key can compute one;
//   - [AlgorithmLuhn]: 16 Luhn-valid digits derived the same way, for systems
//     that want a token shaped like a card number; the number must pass Luhn.
//
// An item is addressed by token and reference: one card may be stored under
// several references. Storing again under a token and reference that exist
// replaces the item. Each item is sealed under its own data key, wrapped by
// the vault key's KEK; [Vault.Delete] removes both, so copies of the sealed
// item elsewhere cannot be opened with the key any more (crypto-shredding).
//
// # Updates
//
// [Vault.Update] merges a JSON object into an item with RFC 7396 semantics
// (objects merge recursively, null removes a field, arrays and scalars
// replace), atomically and under a version number that increases by one each
// time. The number the token was made from is immutable: an update that
// carries a different number in any of the number fields, or removes it, is
// refused with [ErrNumberImmutable]; the same number is allowed. An update
// may be limited to a field allow-list (a hosted form's visible fields), and
// fields outside it are refused with [ErrFieldNotAllowed].
//
// # Card verification codes
//
// A card verification code is kept briefly: PCI DSS lets a merchant hold
// one (encrypted) only until the authorization it is for, and the capture
// seed's scenario is "updating the CVV temporarily for a call to a payment
// service provider". The top-level fields of [CVVFields] (cvv, cvc, ...)
// of an item are therefore sealed apart from the rest of it, under the
// item's data key with additional data of their own, and live
// [Config.CVVTTL] (an hour by default) from the write that gave them:
//
//   - Retrieve, Update and the capture writes see them while they live and
//     not after — past its time a CVV is not read even before it is swept;
//   - an update that names a CVV field gives the item a new CVV (a new
//     hour), one that does not keeps the CVV and its expiry as they are;
//   - the expiry index (package expiry, kind "vault.cvv") holds one entry
//     per CVV, written in the item's transaction, and the sweeper drops the
//     sealed CVV from the item's record when it is due. It needs no
//     passphrase for that, since it opens nothing: the record is written
//     again without the sealed CVV;
//   - [Vault.ForgetCVV] drops a CVV at once, inside the caller's
//     transaction, if it is still the one [Vault.RetrieveWithCVV] named:
//     the proxy calls it after a payment service provider accepted the
//     request that carried it.
//
// What "gone" means, precisely: after the sweep (or ForgetCVV) no live
// record of the store holds the sealed CVV — a raw scan of every bucket
// finds it nowhere, on every backend, and memstore's and PostgreSQL's
// persisted rows are live rows. Older copies of the ciphertext may remain
// where the backend keeps superseded bytes (bbolt's free pages until it
// reuses them, PostgreSQL's dead tuples until VACUUM and its WAL, any
// backup): they are not crypto-shredded, since the item's data key, which
// opens them, lives on with the item — but that key opens only with the
// vault key's passphrase (or a capture grant locked to the item, while it
// lives), so the database and the server's configuration alone never read
// them. Deleting the item, or its key, shreds them as it shreds the item.
//
// # Capture
//
// Package capture writes to the vault for a third party that holds a grant's
// secret but not the passphrase. [Vault.GrantFor] hands the grant what it
// needs (the key's public recipient; for a grant locked to one item, that
// item's data key), which capture seals under the grant's secret;
// [Vault.StoreForRecipient] and [Vault.UpdateWithKey] then write with it.
// A stolen grant secret therefore opens one item (a locked grant) or none (an
// open grant can only store new items).
//
// # Errors
//
// Every error wraps one of this package's sentinels, and through them a kind
// of the root package (cardvault.ErrInvalid, ...). Messages name fields and
// limits, never values.
package vault
