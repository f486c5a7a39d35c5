// Package proxy sends a stored item's data to a third party — a payment
// service provider (PSP) — through a request template, so that a merchant
// can charge a saved card without the number touching its own servers: the
// POST /v1/proxy/post route of the vault/capture API, as a library.
//
// This part of the package is the request model and its templates:
// [ParseRequest] (or [NewCall]) checks a call, and [Render] fills its
// templates with an item. Sending through the egress guard, retries and
// webhooks build on it.
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
// # Errors
//
// ParseRequest and NewCall return an error wrapping [ErrInvalidCall] that
// is a *cardvault.InvalidError listing every fault by JSON Pointer
// ("/request/headers/1"), [ErrTooLarge] for a body over [MaxCallSize], or
// [ErrRefused] (a cardvault.ErrForbidden) for a destination the policy
// refuses. Render returns [ErrMissingKey], [ErrRender], [ErrRefused] or
// [ErrTooLarge], each naming the place.
package proxy
