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
// ([ParseDuration]; 24 hours by default, "P0T" for ever), after which it
// refuses posts and the sweeper ([Service.Run], [Service.Sweep]) removes it
// and its key material.
//
// The third party never sees the vault key's passphrase, and the database
// never sees the grant's secret: only its hash is stored, and what the grant
// needs to write — the vault key's public recipient, for a locked grant the
// item's data key — is sealed under a key derived from the secret. A stolen
// database opens no grant; a stolen secret opens one item (a locked grant)
// or none (an open grant only adds items), until it expires. Wrong secrets
// are counted per id, and after Config.MaxFailures the id refuses everyone,
// so secrets cannot be guessed; the count is kept for ids that have no grant
// too, and both take the same path, so probing does not tell which ids
// exist.
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
