// Package reliability holds no code: its tests prove that cardvault's
// reference server survives load, faults and hostile input, and keeps its
// secrets. They run under `make test`; RELIABILITY.md at the top of the
// repository lists what they try, how much, and the commands that reproduce
// each row. What they prove:
//
// # Load and several processes
//
//   - The load generator's mix (internal/loadgen), run against the real
//     binary (examples/server) on bbolt, gets no unintended error and every
//     acknowledged write reads back (TestLoadMix); with 64 clients, all
//     from one address, no 429 on any route: the limits on failed
//     attempts never hold back a client that does not fail
//     (TestLoadOneAddressNoThrottle).
//   - Two server processes on one PostgreSQL database, under that mix:
//     each single-use token is redeemed exactly once however many
//     update-account requests race for it across the processes; a request
//     sent many times with one Idempotency-Key, concurrently to both, gets
//     byte-identical answers and runs once; concurrent PATCHes of one
//     secure token, each appending a custom field, all land
//     (TestTwoServersOnePostgres).
//
// # Faults
//
//   - The server binary killed with SIGKILL in the middle of the mix, on
//     bbolt and on PostgreSQL, and started again on the same data: every
//     write that got a 2xx reads back whole — items, capture updates,
//     grants, secure tokens, patches, single-use tokens — nothing that was
//     not acknowledged is visible but as a whole, and grants and tokens
//     still work (TestCrash).
//   - The binary killed with SIGKILL while a try of an asynchronous proxy
//     call is in flight, on bbolt and PostgreSQL: after a restart the call
//     goes on, its webhook gets the provider's final answer exactly as
//     sent, signed, once, and the CVV it sent is gone from the item
//     (TestProxyCrashMidRetry).
//   - PostgreSQL (a private server, never the shared one) stopped in
//     immediate mode under the mix: /readyz answers 503 while it is down
//     and 200 again once it is back, without the server being restarted,
//     and requests succeed again (TestPostgresRestart).
//
// # Failover
//
//   - Two server processes on a pg_auto_failover formation (a monitor, a
//     primary and two synchronous secondaries, internal/pgaftest) under the mix,
//     and the primary lost three ways, each on a formation of its own:
//     its machine killed (SIGKILL of the keeper and PostgreSQL), a planned
//     switchover (pg_autoctl perform failover), its processes frozen
//     (SIGSTOP: a hung machine or a network split, which closes no
//     connection). The servers follow the new primary without a restart;
//     every error a client got meanwhile is a "try again", never another
//     500; /readyz said 503 while there was no primary and says 200 after;
//     the old primary rejoins as secondary; every acknowledged write reads
//     back through a server on the new primary alone; single-use tokens
//     are redeemed exactly once across the servers (TestFailover, which
//     logs the figures scripts/failover-figures.sh sums up).
//
// BenchmarkMixFormationVsPostgres measures what synchronous replication
// costs the mix.
//
// # Hostile input
//
//   - A table of hostile requests against every request parser of both
//     APIs — bodies, durations, JSON Patch, query strings, headers, ids —
//     served in process over a memstore behind a real listener: each gets
//     the right 4xx and a message that says what is wrong, never a 5xx or a
//     panic, and the store is the same afterwards, byte for byte
//     (memstore.Store.Dump), but for what such a request is meant to write
//     (TestHostileInput).
//   - Hostile proxy calls — template injection, oversized templates and
//     calls, CR/LF and transport headers, user-info, IP literals outside
//     the allow-list, encoded '#' and '?' in hosts, bad rules, another
//     account's rule — each the right 400/403/404 naming the fault, the
//     store unchanged, and not one connection to the provider's listener
//     (TestHostileProxyInput).
//   - Fuzz targets at the HTTP level (FuzzVaultPost, FuzzCaptureGrant,
//     FuzzCapturePost, FuzzSecureTokenCreate, FuzzPatch, FuzzTokenQuery,
//     FuzzTokenHeaders, FuzzProxyPost): never a 5xx; a refused request
//     changes nothing (and a refused proxy call connects nowhere).
//
// # Security
//
//   - A capture secret cannot be guessed: ten wrong ones lock the endpoint
//     (423) for the right one too, and unknown ids lock the same way; the
//     secret of one endpoint does not open another; an expired access token
//     is refused; API keys reach their own terminals only and Basic
//     accounts their own keys, items, endpoints and forms, over HTTP
//     (TestSecurity).
//   - A wrong secret and an unknown endpoint take the same time, as far as
//     a robust comparison of many interleaved samples can tell
//     (TestCaptureTimingDoesNotTell, which explains its bound).
//   - No secret the tests used reaches the logs, an error message or a
//     metric label (TestNoSecretLeaks; and every test server's log, and the
//     server binaries' logs under load, are scanned when their test or the
//     package's run ends).
//
// BenchmarkAccessLogLine measures what the log redaction costs per request;
// BenchmarkProxySyncLatency, BenchmarkProxySyncThroughput and
// BenchmarkProxyAsync give the proxy's figures (BENCHMARKS.md).
package reliability
