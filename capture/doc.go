// Package capture lets card and bank data reach the vault without touching
// the merchant's servers: capture grants that a browser or third party posts
// to, hosted forms that post to them, and single-use tokens for the
// secure-token API.
//
// # Grants
//
// A merchant who holds a vault key creates a grant ([Service.CreateGrant])
// and hands its id and secret to a browser or a third party, which posts
// card data to it ([Service.Redeem]) — in the reference server,
// POST /v1/capture/<id> with the header X-PCIVault-Capture-Secret. A grant
// is open (each post stores a new item) or locked to one item (each post
// merges into it under the vault's merge rules: the card number is
// immutable). It may carry a field allow-list, be single-use, and notify a
// webhook after each capture with safe data only (last four, holder, expiry,
// card type). It lives for a time to live given as an ISO 8601 duration
// ([ParseDuration]; 24 hours by default, "P0T" for ever where
// [Config.AllowUnexpiring] allows it), within the maxima of
// [Config.MaxTTL] and, for a grant that stands for existing data,
// [Config.MaxLockedTTL]; after it, the grant refuses posts and package
// expiry's sweeper removes it and its key material.
//
// The third party never sees the vault key's passphrase, and the database
// never sees the grant's secret: only its hash is stored, and what the grant
// needs to write — the vault key's public recipient, for a locked grant the
// item's data key — is sealed under a key derived from the secret. A stolen
// database opens no grant; a stolen secret opens one item (a locked grant)
// or none (an open grant only adds items), until it expires.
//
// # Lockout
//
// Wrong secrets are counted per id, and after [Config.MaxFailures] of them
// the id refuses everyone, its own secret included, with a [LockedError]
// until the lock lifts: a minute the first time ([Config.LockDelay]), twice
// as long each time after, up to a day. The lock is checked and the failure
// counted in one store transaction, so concurrent wrong secrets count
// exactly up to the limit, and the transaction that writes a capture checks
// it again. [Service.Check], what a form page calls, counts nothing.
//
// Ids that have no grant lock the same way, so that probing does not tell
// which ids exist, and take the same path at the same cost: a read of a
// record of a grant's shape, a constant-time comparison, a write of a
// failure counter. But they leave no record: their counters are kept in
// memory (at most [Config.MaxUnknownIDs]), and the write rewrites one of a
// few decoy counters, so that a flood of random ids grows the store by
// nothing. In memory means per process: behind several servers, or across
// a restart, an unknown id's count starts again where a real one's does
// not, which a patient prober could notice; a front-end's per-client limit
// (the reference server's) makes that slow.
//
// # Hosted forms
//
// A hosted form is a merchant's configuration of a page cardvault serves:
// which fields it shows ([FormType], [FieldOption]), the JavaScript
// callbacks it runs after a post, its CSS and the origins that may embed it
// in a frame. [ParseForm] checks a create-form request and returns a [Form];
// [Service.CreateForm] keeps it, and [Service.ServeFormPage] answers
// GET <link>?unique_id=<grant id>&secret=<grant secret> with
// [Form.ServePage], which renders the card page of package
// [github.com/cardvault/cardvault/capture/formpage] with a strict
// Content-Security-Policy. The page posts the visible fields to the grant,
// so a grant made for a form can carry [Form.VisibleFields] as its field
// allow-list.
//
// No merchant code runs while card fields exist. The card page holds no
// callback; after a reply that a callback handles, it removes its fields
// and replaces itself with the form's result page, GET <link>?view=result
// (served by the same route and the same ServePage), handing over the reply
// and the posted fields without the CVV and with the card and account
// numbers masked. There the callback runs in a Worker, with no DOM and no
// network, under a sandboxed policy of its own; package formpage documents
// both pages and their policies.
//
// # Single-use tokens
//
// The secure-token API updates saved payment details with a single-use
// token that a hosted form captured: a 128-character token, valid for 30
// minutes, usable once. [Service.MintSingleUse] stores payment details for
// a processing terminal under such a token, and a grant made with a
// Terminal instead of a vault key mints one for each post.
// [Service.RedeemSingleUse] uses one up inside the caller's store
// transaction, so a token is redeemed exactly once even when requests from
// several processes race for it. Only the token's hash is stored, and the
// details are sealed under the token itself.
//
// # Errors
//
// Every error wraps a sentinel of this package or of package vault, and
// through it a kind of the root package (cardvault.ErrNotFound, ...).
package capture
