// Package server is cardvault's reference server: an [http.Handler] that puts
// the library on the network behind the two wire APIs it is compatible with,
// so that code written for them works against cardvault by changing only the
// base URL. examples/server is the program that runs it.
//
//	srv, err := server.New(server.Config{Store: st, Keyring: kr, Accounts: accounts, APIKeys: keys})
//	if err != nil { ... }
//	hs := &http.Server{Addr: ":8080", Handler: srv}
//	go hs.ListenAndServe()
//	...
//	hs.Shutdown(ctx)
//	srv.Shutdown(ctx) // stops the outbox workers and expiry sweeper
//
// # What it holds
//
// The server stays thin: every rule lives in the library (packages access,
// vault, capture, securetoken, proxy, rules, outbox, audit, idempotency,
// opened together by package deployment); the server authenticates,
// translates between the wire formats and the library's types, limits and
// logs. Errors carry a [cardvault.Kind]; one table (problem.go) maps each kind
// to each API's status and body, so the two APIs answer the same failure in
// their own dialect.
//
// # Routes
//
// The routes, their parameters and answers are in docs/API.md at the root of
// the repository: the vault/capture API (HTTP Basic auth), the secure-token
// API (bearer tokens from POST /v1/auth), the proxy, the outbox and audit
// routes, and the operations listener (-ops-addr: /healthz, /readyz,
// /metrics).
package server
