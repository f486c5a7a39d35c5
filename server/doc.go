// Package server is cardvault's reference server: an [http.Handler] that puts
// the library on the network behind the two wire APIs it is compatible with,
// so that code written for them works against cardvault by changing only the
// base URL. It stays thin: every rule lives in the library (packages vault,
// capture, securetoken); the server authenticates, translates, limits and
// logs. examples/server is the program that runs it.
//
//	srv, err := server.New(server.Config{Store: st, Keyring: kr, Accounts: accounts, APIKeys: keys})
//	...
//	http.ListenAndServe(":8080", srv) // then srv.Shutdown(ctx) after the http.Server's
//
// # The vault/capture API
//
// The routes of the hosted vault's API (see the project's reference on it),
// under HTTP Basic auth unless said otherwise:
//
//	POST   /v1/key                    {"user", "passphrase"} → the same; passphrase generated when left out
//	GET    /v1/key?limit=             [{"user", "created_at"}], X-PCIVault-Next-Token when the page is full
//	PUT    /v1/key                    {"user", "passphrase", "new_passphrase"} → {"user", "passphrase"}
//	DELETE /v1/key?user=[&safe=true]  {"user"}; with safe, 409 while the key holds data
//	POST   /v1/vault?user=&passphrase=[&reference=][&algorithm=full|luhn][&number=]   any JSON object ≤ 256 KiB → {"token", "user", "reference"}
//	GET    /v1/vault?user=&passphrase=&token=[&reference=]   the stored JSON
//	GET    /v1/vault?user=[&limit=]   {"<user>": [{"token", "reference"}]}
//	DELETE /v1/vault?user=&token=[&reference=]   {"token", "user", "reference"}
//	POST   /v1/capture?user=&passphrase=[&ttl=][&unique_id=][&token=[&reference=]]   → {"id", "url", "secret", "expires_at", "lockdown_info"}
//	GET    /v1/capture?user=[&limit=] the key's live endpoints, without secrets
//	DELETE /v1/capture/{id}           {"id"}
//	POST   /v1/capture/{id}           no Basic auth: X-PCIVault-Capture-Secret; → {"user", "token", "reference"}
//	OPTIONS /v1/capture/{id}          CORS preflight
//	POST   /v1/capture/iframe?form_type=pcd|ach|custom   → {"type", "id", "link"}
//	GET    /v1/capture/iframe/{id}?unique_id=&secret=    no auth: the form page; {id} pcd or ach is a standard form
//	DELETE /v1/capture/iframe/{id}    {"id"}
//	GET    /v1/audit?[from=][&to=][&limit=]   the account's own audit events, newest first (auditapi.go)
//	POST   /v1/proxy/post?user=&passphrase=&token=[&reference=][&tries=][&rules=][&synchronous=][&debug=]   a call → 200 {"status", "headers", "body"} or 202 {"id", "status": "queued"}
//	POST   /v1/proxy/get?user=&passphrase=[&reference=][&tries=][&synchronous=][&debug=]   a call → 200 {"token", "user", "reference"} or 202
//	GET    /v1/rule[?id=]             the account's rules, or one: {"id", "operations", "created_at"}
//	POST   /v1/rule?id=               body: the operations → the rule
//	DELETE /v1/rule?id=               {"id"}
//	GET    /v1/rule/operations        the operations and their arguments
//
// GET /v1/vault also takes rules= (comma-separated rule ids): the
// account's rules run on a copy of the item, so that a merchant can read a
// masked view. The proxy's routes are package proxy's (see proxyapi.go):
// a call's body is {"request": {"method", "url", "headers": [{"Name":
// "value"}], "body"}, "webhook": {"url", "secret"}}; a synchronous call's
// reply is 200 whatever the provider answered — its status is the
// envelope's "status", so a provider's 400 is passed through — and a
// provider that could not be reached after every try is a 502, one slower
// than the limit (Config.ProxyTimeout) a 504; debug=true adds
// "populated_template" (test cards only: 403 otherwise).
//
// Where the reference leaves things open, the choices are these. A reference
// may be left out wherever a token is given while the token has one item
// under the key (400 when it has several). Every success is a 200 with a JSON
// body. POST /v1/capture takes an optional JSON body for what query
// parameters cannot say:
//
//	{"webhook": {"url": "https://...", "secret": "..."}, "allowed_fields": ["cvv", "card_expiry"], "single_use": true}
//
// Unknown members are refused. The reply adds "id" to the seed's members, and
// leaves out "expires_at" for an endpoint that never expires (ttl=P0T). A
// grant id "iframe" is refused, since POST /v1/capture/iframe creates forms.
// Lists return at most limit entries (1–1000, default 1000); the
// X-PCIVault-Next-Token response header, present when a page is full, goes
// back as the header of the same name or the next_token query parameter.
// A form's link is host[/prefix]/v1/capture/iframe/<id>, without a scheme as
// in the seed, from Config.PublicURL or else the request's Host.
//
// Errors are {"error": "<message>"}, the library's message, which names
// fields and limits and never values: 400 invalid input, 401 a wrong Basic
// credential (with WWW-Authenticate) or a wrong user or passphrase (without),
// 403 forbidden, 404 not found, 409 conflict, 410 expired or used, 413 over a
// size limit, 415 a body that is not JSON, 423 locked, 429 too many failed
// attempts (with Retry-After; see below), 503 a store that does not answer
// or a request past its deadline, 500 anything else (logged, not
// described). A capture POST answers an unknown endpoint and a wrong secret
// with the same 403 and body, {"error": "unknown capture endpoint or wrong
// secret"}, so nobody learns which ids exist; 410 only once the secret was
// right (expired, used up, deleted); 423 with Retry-After for an id locked
// after ten wrong secrets, known or not, until the lock lifts — a minute
// the first time, twice as long each time after, up to a day (package
// capture; the hosted form page shows 423 as final: ask for a new link).
// Loading a form page never counts against the lock.
//
// An endpoint locked to a card (an update endpoint) or made for single-use
// tokens lives at most Config.MaxCaptureTTL (24 hours by default, the hosted
// vault's advice): a longer ttl, or ttl=P0T, is a 400. An open endpoint has
// no maximum, but never expires (ttl=P0T) only with
// Config.AllowUnexpiringCapture. A vault passphrase has 16 characters at
// least (a 400 that says so).
//
// A JSON body may come with Content-Type application/json, any
// application/*+json, text/plain — what a browser's fetch sends for the
// seed's string body — or none, as Python's requests sends with data=.
// Anything else (a form encoding, multipart) is a 415.
//
// Capture POSTs answer CORS from any origin (Access-Control-Allow-Origin: *,
// preflight allowing POST with Content-Type and X-PCIVault-Capture-Secret,
// cached ten minutes), never with credentials: the secret in the header is
// the only credential, and the merchant's pages that post live on any site.
// No other route answers CORS. Form pages carry the Content-Security-Policy
// package capture sets (a nonce per page; frame-ancestors from the form).
//
// # Accounts and isolation
//
// Each Basic account (Config.Accounts; CARDVAULT_BASIC_AUTH=user:password,...)
// is the owner of the vault keys, items, endpoints and forms it creates; no
// account can name another's. The server keeps keyed hashes (HMAC under a
// per-process random key) of account names and passwords, compares every
// account in constant time, and never logs either. Passwords have 16
// characters at least: New refuses shorter ones.
//
// # The secure-token API
//
// POST /authorize exchanges the x-api-key header for an access token:
// {"access_token", "expires_in": 3600, "scope", "token_type": "Bearer"}.
// Access tokens are JWTs (HS256) signed under a key derived from the
// deployment's server key, which the first server creates and keeps in the
// store wrapped by the master keyring: every server that shares the store
// and the master key verifies every other's tokens without a round trip to
// the store, and a restart keeps them valid. Expiry is enforced to the
// second; expires_in is the token's true lifetime. The token names its API
// key by a keyed hash; the key's terminals are read from the configuration
// on each request, so removing a key revokes its tokens. Each API key
// (Config.APIKeys; CARDVAULT_API_KEYS=key:terminal,...;key2:*; 16
// characters at least) may act for its processing terminals only: 403
// forbidden elsewhere. The server keeps keyed hashes of API keys only.
//
// Its routes (docs/reference/payroc-api.md), under "Authorization: Bearer":
//
//	POST   /v1/processing-terminals/{pt}/secure-tokens                       201 + Location
//	GET    /v1/processing-terminals/{pt}/secure-tokens?[filters][&before|after=][&limit=]
//	GET    /v1/processing-terminals/{pt}/secure-tokens/{id}
//	DELETE /v1/processing-terminals/{pt}/secure-tokens/{id}                  204
//	PATCH  /v1/processing-terminals/{pt}/secure-tokens/{id}                  RFC 6902
//	POST   /v1/processing-terminals/{pt}/secure-tokens/{id}/update-account
//	POST   /v1/processing-terminals/{pt}/single-use-tokens                   201 + Location
//	POST   /v1/processing-terminals/{pt}/capture-endpoints                   201 + Location (cardvault's own)
//	POST   /v1/processing-terminals/{pt}/secure-tokens/{id}/proxy?[tries=][&synchronous=][&debug=]   (cardvault's own)
//
// The last is the proxy for a secure token: the same body and answers as
// POST /v1/proxy/post, its errors as problems (502 and 504 with the
// api-error type), under the API's Idempotency-Key — an asynchronous call
// is queued once, a synchronous one made once and replayed byte for byte,
// and the provider gets an Idempotency-Key derived from the caller's.
//
// Every rule is package securetoken's. The last route is not the
// publisher's: it makes a single-use-token capture endpoint ({"ttl"}
// optional, 30 minutes by default) that a browser or a hosted form page
// posts card or bank account fields to, at POST /v1/capture/{id} with only
// its secret; the answer is {"processing_terminal_id", "single_use_token",
// "expires_at"}, and the merchant sends the token to update-account. See
// tokenapi.go.
//
// Where the publisher's notes leave a choice open: a JSON Patch whose
// "test" fails is a 409 cannot-be-modified naming the tested path (the
// resource is not in the state the patch expects); a patch naming an
// immutable member is a 409 cannot-be-modified too, a path the resource
// lacks a 400 naming it and the nearest valid path. Creating with an id in
// use is a 409 resource-already-exists whose instance is the existing
// token; with the id of a deleted token, the same 409 saying the id is
// retired. Update-account with a single-use token that does not exist or is
// another terminal's is a 404 not-found with resource "singleUseToken"; one
// used or expired already is a 400 naming /token. A DELETE ignores Accept:
// it answers without a body.
//
// Errors of this API are RFC 7807 application/problem+json documents in the
// publisher's shape, "type" being Config.ErrorsBaseURL (default
// DefaultErrorsBaseURL) + "#" + the anchor: bad-request with errors
// [{parameter, detail, message}] (one per field of a
// cardvault.InvalidError), not-authorized, forbidden (with instance and
// resource), not-found (with resource), not-acceptable, resource-already-exists,
// cannot-be-modified, payload-too-large, unsupported-media-type, api-error,
// idempotency-key-missing, idempotency-key-in-use. The publisher's contract
// has no answer for too many requests; POST /authorize, which it does not
// describe either (it is the identity service's), answers a client over its
// limit of wrong API keys 429 with Retry-After and the problem type
// too-many-requests, title "Too many requests", in the same shape. No route
// of the contract answers 429: bearer tokens are 256-bit signatures, not
// guessable, and are not counted.
//
// Every POST and PATCH of the API needs an Idempotency-Key (a UUID v4),
// scoped per API key and kept in the store for 24 hours, so that a retry on
// any server replays the first response byte for byte (see idempotency.go
// for the details, including concurrent requests with one key: the first
// runs, the others wait for its response).
//
// # Limits on failed attempts
//
// Every guess the server checks is counted when it fails, in memory, by
// one limiter (a leaky bucket: a burst, then a steady rate; Retry-After
// says when the next attempt will be checked):
//
//	what fails                                        per client         per account / key
//	HTTP Basic password; API key at POST /authorize   10, then 1/min     50, then 5/min (account; all API keys together)
//	vault passphrase (or unknown vault user)          10, then 1/min     20, then 2/min (vault key)
//	capture post: wrong secret, unknown or locked id  100, then 100/min  — (per id: the lock above)
//	form page that finds its endpoint closed          (the same count)   — (never the endpoint's lock)
//
// A client or account over its limit is answered 429, Retry-After,
// unchecked: on the vault/capture API {"error": ...}, on POST /authorize a
// too-many-requests problem. Only failures count, so a client that never
// fails is never held back, however fast (the load generator's 64 clients
// on one address see no 429); and an account's or key's limit holds back
// only clients with failures of their own on record, so that guesses from
// many addresses slow each other down without locking the account's own
// integration out. Requests without credentials do not count. The client
// is the connection's peer address (an IPv6 one by its /64); behind a
// proxy that is the proxy's, and X-Forwarded-For is not trusted. The counts
// are per process: N servers give a client N times the budget.
// Config.FailureLimits changes the figures. Each vault key unlock runs
// scrypt, and vault.Config.MaxUnlocksPerOwner (half the process's scrypt
// slots) keeps one account's guesses from starving another's unlocks.
//
// # Limits and hygiene
//
// Bodies are capped (256 KiB on the vault/capture API, 64 KiB on the
// secure-token API; 413 beyond, at once when the Content-Length says so).
// A query string that does not parse (a bad %-escape, a ';') is a 400,
// rather than the silent loss of the parameters it holds. Each request runs under a deadline
// (Config.RequestTimeout); examples/server sets the http.Server's read,
// write and idle timeouts. Every reply of the APIs is Cache-Control:
// no-store and carries an X-Request-Id.
//
// The server logs with log/slog through redact.NewHandler: one line per
// request (method, route pattern, path, status, size, duration, account or
// API client id — never a query string, a header or a body), and errors.
// The handler also scrubs whatever else reaches it of card numbers (any 12–19
// digit run passing Luhn), secrets and credentials. The package's tests scan
// the logs of their whole run, the real binary's included, for every secret
// they used.
//
// # Ops endpoints and TLS
//
// GET /healthz answers 200 while the process runs; GET /readyz pings the
// store (503 when it does not answer); GET /metrics is written by
// client_golang on the Server's own registry: requests and their latency
// by route pattern and status (cardvault_http_requests_total,
// cardvault_http_request_duration_seconds), capture redemptions by outcome,
// idempotent replays, vault unlocks (scrypt runs) and unlocked keys held,
// and the Go runtime and process collectors. No label carries a value from
// a request — a route label is the mux's pattern, never the path — so no
// id or secret is ever a label. These are internal endpoints: they need no
// credentials and hold nothing secret, but belong to the operator's load
// balancer and monitoring. With Config.SeparateOps they leave the Server's
// handler and are served only by [Server.OpsHandler], on a listener of
// their own (examples/server's -ops-addr).
//
// The Server does not listen; whoever serves it chooses plain HTTP or TLS
// (examples/server refuses plain HTTP on a non-loopback address unless told
// otherwise). Every response to a request that came over TLS carries
// Strict-Transport-Security: max-age=63072000; includeSubDomains; none over
// plain HTTP. Absolute URLs the server makes (secure-token list links)
// take the request's scheme when Config.PublicURL is empty; form links have
// no scheme, as in the hosted vault's API, and are loaded as https://<link>.
//
// # Running several servers
//
// Point every server at the same PostgreSQL (pgstore) with the same master
// key: they share vault keys, items, endpoints, forms, the server key
// (access tokens) and idempotency records, and each sweeps expired records
// (Config.SweepEvery); every guarantee holds across them.
package server
