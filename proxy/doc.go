// Package proxy sends a stored item's data to a third party — a payment
// service provider (PSP) — through a request template, so that a merchant
// can charge a saved card without the number touching its own servers, and
// stores what a third party answers as a new item: the POST /v1/proxy/post
// and POST /v1/proxy/get routes of the vault/capture API, as a library.
//
//	px, err := proxy.New(proxy.Config{Store: st, Vault: v, Outbox: ob, Guard: guard})
//	...
//	call, err := px.Parse(body) // the JSON below
//	res, err := px.Send(ctx, proxy.VaultItem(creds, ref), call, proxy.Options{Synchronous: true})
//	// res.Response: {status, headers, body}, masked
//
// [ParseRequest] (or [NewCall]) checks a call, and [Render] fills its
// templates with an item; [Proxy.Send] and [Proxy.Receive] make calls.
//
// # A call
//
// The JSON of a call is PCI Vault's:
//
//	{
//	  "request": {
//	    "method":  "POST",
//	    "url":     "https://api.stripe.com/v1/payment_methods",
//	    "headers": [{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_..."}],
//	    "body":    "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"
//	  },
//	  "webhook": {"url": "https://merchant.example/hooks/psp", "secret": "..."}
//	}
//
// headers is a list of one-member objects, not a map, so that a name may
// repeat and the order is kept. The method is GET, POST, PUT, PATCH or
// DELETE. Destinations go through the deployment's [Policy]: the egress
// guard's URL rules (https, no user-info, no fragment, a plain host with no
// percent-encoding — an encoded '#' or '?' cannot sneak into a host —, IP
// literals only through the operator's allow-list) and an optional list of
// hosts. Headers the transport owns or that are hop-by-hop (Host,
// Content-Length, Transfer-Encoding, Connection, …) are refused, and so is
// any CR, LF or NUL in a header.
//
// # Templates
//
// The body, the URL's path and query, and header values are mustache
// templates over the item's keys ({{card_number}}, {{billing.zip}}). The
// engine (github.com/cbroglie/mustache behind cardvault's gate) refuses
// delimiter changes, partials, unescaped tags ({{{x}}}, {{&x}}) and nested
// sections; sections one level deep are allowed, over present values
// ({{#cvv}}&card[cvc]={{cvv}}{{/cvv}} sends a CVV only while the item has
// one), objects and arrays. A template expands to at most its limit
// ([MaxRenderedBody] for a body) and stops early when it would not.
//
// Values are escaped for where they go — never HTML-escaped, which breaks
// JSON and form bodies:
//
//   - a body of Content-Type application/json (or any */*+json): JSON
//     string escaping, so values go inside the skeleton's strings —
//     {"name": "{{card_holder}}"} — and a number, {"amount": {{amount}}},
//     is written as the item has it;
//   - application/x-www-form-urlencoded: form encoding (url.QueryEscape);
//   - text/*: no escaping;
//   - any other Content-Type, or none: the body may not have variables;
//   - the URL: strict percent-encoding of everything but letters, digits
//     and -._~, so a value cannot add a path segment, a query parameter or
//     a fragment;
//   - header values: none, and the rendered value is checked again.
//
// A key the item lacks (or holds null) is an error naming the key, never
// an empty string; so is a key holding an object or an array. Besides the
// item's keys a template can name the derived keys: card_number without
// spaces or dashes, and from expiry (MM/YY) or card_expiry (MM-YYYY) —
// read as the vault reads them — expiry_month (MM), expiry_year (YYYY) and
// expiry_year_short (YY); an item that has keys of those names keeps them.
// Rules ([github.com/cardvault/cardvault/rules]) run on the item before
// Render and may add more.
//
// # Card fields
//
// URLs end up in access logs, so the URL may not name a card field
// ([IsCardField]: numbers, verification codes, PIN, track data, expiry,
// holder names, routing numbers), and neither may a header value; a
// rendered URL or header that holds the item's card or account number
// anyway — a rule can copy it under another name — is refused too. Card
// data goes in the body.
//
// # Secrets
//
// A [Call] holds the merchant's header values (a PSP's API key) and the
// webhook's secret, a [Rendered] the card data: their String, Format and
// LogValue show the method and host only. Errors name fields, keys, hosts
// and limits, never a value. MarshalJSON shows everything: Call's is for
// keeping a call to send later, Rendered's is the debug reply's
// populated_template — test cards only.
//
// # Sending
//
// [Proxy.Send] reads the source — a vault item ([VaultItem]: the key's
// credentials, token and reference) or a secure token ([SecureToken]) —,
// runs the account's rules on a copy ([Options].Rules), renders the
// request and sends it through the egress guard: HTTPS only, the
// operator's allow-lists, no redirect followed (one is an [ErrRefused]),
// the guard's size cap on answers. A request whose call sets none gets a
// User-Agent (cardvault-proxy/1) and, for a POST or PATCH, an
// Idempotency-Key (below).
//
// A try that does not reach the destination, or that gets 429 or a 5xx,
// is followed by another after a wait, up to [Options].Tries (1 to
// [MaxTries], [DefaultTries] by default); any other answer is final, and
// a refused destination is not tried again. A synchronous call
// ([Options].Synchronous) waits between tries with equal-jitter
// exponential backoff from [Config].Backoff, within [Config].Timeout for
// the whole call (20 s by default), and returns the last answer as a
// [Response] — whatever its status: a PSP's 400 is passed through — or
// [ErrUnreachable] when no try got one, [ErrTimeout] when the time ran out
// first.
//
// # Retries and idempotency
//
// Trying a POST again after a 5xx or a lost connection may charge a card
// twice, unless the provider recognizes the second request as the first.
// Most PSPs do so by an Idempotency-Key header (Stripe, Adyen,
// Checkout.com; stripe-mock accepts it): every try of one call carries the
// same key, the call's own when its headers set one — a merchant should,
// from its order id ({"Idempotency-Key": "order-1234-charge"}), so that
// its own retries of the whole call are recognized too — and otherwise
// one cardvault makes: random per call, or, for a call made under
// [Options].Idempotency (the secure-token route's Idempotency-Key),
// derived from the caller's key, so that the caller's retry is the same
// request to the provider. For a provider that honours no such header, use
// tries=1: then nothing is sent twice by cardvault.
//
// # Asynchronous calls
//
// Without Synchronous, Send renders the request at once — so that a bad
// call or a missing key is the caller's error now — and queues it in the
// outbox inside one store transaction, returning the job's id; the call
// needs a webhook. Each delivery of the job ([JobSend]) is one try; 429
// and 5xx answers and unreachable destinations are tried again after the
// outbox's backoff, and the final outcome goes to the webhook, signed as
// capture webhooks are (package webhook; X-Cardvault-Delivery is the
// call's id, the same on every try of the webhook):
//
//	{"id": "...", "token": "...", "reference": "...", "tries": 2, "response": {"status": 200, "headers": {...}, "body": "..."}}
//	{"id": "...", "token": "...", "reference": "...", "tries": 8, "error": "no answer after 8 tries: ..."}
//
// The webhook is queued ([JobResult]) in the transaction that marks the
// call done and removes the CVV it used, so that a worker that dies after
// the outcome is queued never sends the request again. A worker that dies
// during a try leaves the job to the next one once its lease runs out —
// after a SIGKILL too —; the job has one delivery more than its tries, and
// a call whose last try was cut short so says in its webhook.
//
// What the job keeps, sealed by the outbox (XChaCha20-Poly1305 under its
// key, which the master keyring wraps), is the rendered request itself:
// the exact bytes to send, card data included — the card number (PCI DSS
// allows it stored encrypted) and the CVV when the template named one
// (allowed, encrypted, until the authorization it is for; req. 3.3.2) —
// plus the webhook's URL and secret, the item's numbers (to mask the
// answer) and the item's address (to remove its CVV). That is less card
// data than the item (only what the template sends), and it needs no
// passphrase later: the outbox opens it with the server's key. The job
// is deleted once its outcome is queued. A job never sends a CVV past the
// CVV's expiry: a try after it ends the call with an error instead. The
// webhook's own job holds only the masked answer.
//
// # The CVV
//
// A vault item keeps a CVV for -cvv-ttl at most (package vault). A call
// whose request carried the item's CVV — its templates or rules name a
// CVV field, or the rendered request holds its value — removes it from the
// item once the provider answers 2xx: the tries inside that call all had
// it, the next call has none ({{#cvv}}...{{/cvv}} leaves it out; {{cvv}} is
// then a missing key). A refused or failed call leaves it for the next
// try of the merchant's.
//
// # Masking
//
// A provider's answer never reaches the caller, a webhook or a log with
// card data: in its body and header values, every run of 12 to 19 digits
// (spaces or dashes between them allowed) that passes the Luhn check, and
// the item's own card and account numbers however they are written
// (spaces, dashes, '+' or '.' between the digits), keep their first six
// and last four digits ("4242 42** **** 4242": the separators stay, the
// length too); the item's CVV, where it stands as a digit run of its own,
// is all stars. A 12–19 digit number that passes Luhn by chance (a
// millisecond timestamp, one in ten) is masked too, which can make a JSON
// number invalid: the price of never letting a card number through. A
// receiving call stores the answer as it came; only what the caller sees
// of it is masked.
//
// # Debug
//
// [Options].Debug returns the rendered request ([Result].Populated, the
// reply's populated_template), card number included — and the request is
// still sent, as PCI Vault's debug calls are. So it is allowed only when
// every number of the item, and every card number of the rendered request,
// is one of the test numbers the providers publish (Stripe, Adyen,
// Braintree, ...); any other item gets [ErrDebugRefused] and nothing is
// sent. There is no switch to allow it for live cards.
//
// # Receiving
//
// [Proxy.Receive] calls a third party with a call whose templates hold no
// variable (there is no item), and stores its answer — a 2xx with a JSON
// object holding a number — as a new item under the key and reference,
// its token made from the usual number fields: synchronously with the
// passphrase, or later from the job with the key's public recipient (no
// passphrase), as an open capture endpoint stores. Any other answer is
// [ErrBadAnswer]; nothing is stored.
//
// # Logging
//
// Every call logs one line through [Config].Logger, and never card data:
// the method, the host (never the path or query), the status, the tries,
// the duration, the outcome, and a queued call's id.
//
// # Errors
//
// ParseRequest and NewCall return an error wrapping [ErrInvalidCall] that
// is a *cardvault.InvalidError listing every fault by JSON Pointer
// ("/request/headers/1"), [ErrTooLarge] for a body over [MaxCallSize], or
// [ErrRefused] (a cardvault.ErrForbidden) for a destination the policy
// refuses. Render returns [ErrMissingKey], [ErrRender], [ErrRefused] or
// [ErrTooLarge], each naming the place. Send and Receive return those, the
// vault's, securetoken's and rules' errors for the source and the rules
// (a wrong passphrase, an unknown item, another account's rule: not
// found), [ErrOptions], [ErrDebugRefused] — all of the root package's
// kinds, and nothing sent — or, once sending, [ErrUnreachable],
// [ErrTimeout] and [ErrBadAnswer], of no kind: no fault of the caller's.
package proxy
