// Package securetoken keeps saved payment details — a card, a US (ACH) or
// Canadian (PAD) bank account — under a secure token per processing
// terminal, in the shape of the publisher's secure-token API
// (server/testdata/contract/payroc-secure-tokens.openapi.yaml), so that a client written for
// that API works against cardvault unchanged.
//
// This part of the package is pure data: the model, request parsing and
// validation, the representations (stored and public), the JSON Patch path
// policy, and list queries. It touches no store, no key and no network.
//
// # Model
//
// A [CreateRequest] carries a [PaymentSource] in one of the contract's
// variants: card (its [CardDetails] raw, icc, keyed — plainText,
// fullyEncrypted, partiallyEncrypted — or swiped — plainText, encrypted),
// ach, pad, or singleUseToken. Every variant has a Go type and is validated.
// cardvault can only read a card number it is given in clear, so of the card
// variants it saves keyed plainText and swiped plainText (the number, expiry
// and name read out of ISO/IEC 7813 track data); the others are refused with
// a fault at their entryMethod or dataFormat saying so, since decrypting them
// takes the terminal's own key-management system.
//
// A [Record] is what the service seals at rest; a [Resource] is what every
// response carries, built by [Record.Public]. [SingleUseTokenRequest] and
// [SingleUseTokenResponse] serve the single-use-token route,
// [AccountUpdateRequest] the update-account route, [ListQuery] and
// [ListResponse] the list route.
//
// # Parsing and validation
//
// [ParseCreateRequest], [ParseSingleUseTokenRequest],
// [ParseAccountUpdateRequest] and [ParseResource] run every body through
// internal/jsonx first (at most [MaxBodyBytes], [MaxDepth] levels, no
// duplicate member, valid UTF-8; an oversized body gives [ErrTooLarge]),
// then read it and validate it against the contract. Every fault is
// reported, not the first: a *cardvault.InvalidError whose fields name each
// bad member by JSON Pointer (/customer/contactMethods/0/value), say what is
// expected, and never repeat the value. A hundred faults at most are listed.
//
// Constraints are the contract's (lengths in Unicode characters, patterns,
// enums, required members, formats), read as its descriptions mean them:
// the unanchored patterns '[0-9]{4}' and '[0-9]{3,4}' are taken as the whole
// value. cardvault adds what a vault must not save wrong: card numbers are
// 12–19 digits with a valid Luhn check digit, expiry dates MMYY with a month
// 01–12, routing numbers carry a valid ABA check digit, dates of birth are
// calendar dates, an IP address matches its declared version, and a saved
// card has a cardholder name (the request schema leaves it optional, but the
// resource requires it). Contact values get only the contract's length
// limits: it gives no email or phone format, and a drop-in must not refuse
// what the publisher takes.
//
// # Unknown members and null
//
// A request member the contract does not list is ignored, as the publisher's
// API ignores it; it is never stored or echoed. A member whose value is null
// is taken as absent (the contract has no nullable member, and the publisher
// deserializes null that way). A patched resource, on the other hand, is
// read strictly: a member the resource does not have is a fault naming the
// nearest valid path. An unknown list-query parameter is refused (see
// [ParseListQuery]).
//
// # What is stored, what is shown
//
// A [Record] holds whole card and account numbers and a few members the
// resource never shows (issue number, SEC code, operator, IP address). It
// never holds a card verification code: the CVV of a create request is
// checked and dropped, as PCI DSS requires of card verification codes after
// authorization. Nor PIN blocks, track data, signatures or 3-D Secure
// results. [Record.MarshalBinary] writes the form the service seals.
//
// The public representation masks: a card number shows its first six and
// last four digits ("453985******7062"), a bank account "*****" and its last
// four ("*****5929"; fewer for an account number under eight digits). The
// types [CardNumber] and [AccountNumber] mask in every default rendering —
// fmt, JSON, text — and Record's own MarshalJSON is the public form, so
// printing or encoding a record by mistake shows only what a response shows.
// Customer details print as "[redacted]".
//
// # Updates: JSON Patch over the public representation
//
// A PATCH is applied to [Record.PublicJSON], never to the stored form, so
// that no test, copy or move can read a whole number. [PolicyFor] gives the
// path policy for the record's source type: [PathPolicy.CheckRead] and
// [PathPolicy.CheckWrite] refuse a pointer that names no member (with the
// nearest valid one: the guide's /shippingAddress/recipientName gets
// /customer/shippingAddress/recipientName) and a write to an immutable member
// ([PathPolicy.ImmutablePaths]), to a member under one, or to one that holds
// one (/source). [ApplyPublic] then reads the patched document strictly,
// validates it, refuses any immutable change a second time
// ([*ImmutableError], a cardvault.ErrConflict like the publisher's 409
// cannot-be-modified), and merges it into the record, keeping the numbers.
//
// # Listing and blind indexes
//
// [ParseListQuery] parses the filters, the cursor and the limit (1–100,
// default 10). The service answers filters from keyed blind indexes, never by
// decrypting records: [Record.IndexTerms] gives a record's terms, normalized
// by [NormalizeName], [NormalizeEmail] and [NormalizePhone], which the
// service applies to a filter's value too before hashing it.
//
// # Where the contract and the notes disagree
//
// The contract (the YAML) wins for responses; where it contradicts itself,
// its descriptions win over its patterns: masked account numbers break the
// response schema's ^[0-9]*$, which its own description contradicts. The
// create, update and update-account response schemas list no accountType for
// bank sources while list and retrieve do; cardvault always returns it.
// secureTokenId is immutable although the contract's list omits it.
package securetoken
