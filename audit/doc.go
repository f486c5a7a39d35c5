// Package audit is cardvault's tamper-evident audit trail: who touched
// which payment details when, and how it ended — kept so that the answer
// can still be trusted after an intruder had the database.
//
// A [Log] over a [store.Store] keeps [Event]s as entries of one hash chain.
// Writes are recorded in the transaction that does them ([Log.Record]):
// no acknowledged write without its entry. Reads and refusals, which have
// no transaction of their own, are noted ([Log.Note]) and chained in
// batches, so that a read does not cost a commit. [Verify] checks the
// whole trail; [Log.List] reads one account's events, [Log.Export] writes
// JSON lines for a SIEM; retention removes the oldest entries through
// package expiry's sweeper, and the chain stays verifiable.
//
// # Who records
//
// The services record their own operations: vault (keys, items, failed
// unlocks), capture (endpoints, forms, single-use tokens, refused
// captures), securetoken, rules and proxy each take a [Recorder] — a
// *Log; nil means no audit — and call [RecordIn] as the last step of a
// write's transaction (within idempotency's work function, so a replay
// records nothing new) and [NoteTo] for a read or a refusal. Neither
// knows who acts: the layer that authenticated the request puts an
// [Actor] in its context ([WithActor]; the server does in ServeHTTP and
// its auth middlewares) and both fill the event's who-fields from it.
// This package imports none of the services.
//
// # Events
//
// An event says who (account, API key id, processing terminal, capture
// endpoint, client address), what (an [Op] from a closed set, and the ids
// of the resources: tokens, references, ids), when, and the [Outcome]. It
// holds identifiers only. The services must never put a card number, a
// CVV, a passphrase, a secret or a name in one; as a second line of
// defence the Log redacts any field that looks like a card number (see
// [luhn.CardNumberRuns]), is too long or is not printable text, replacing
// it with a keyed mark and listing it in Event.Redacted (see [Event]). An
// unknown operation or outcome is refused with [ErrInvalid]: it is a bug.
//
// # The chain
//
// Each entry is stored under its sequence number (1, 2, ...) as
//
//	version | prev (32) | link (32) | payload
//
// where link = HMAC-SHA-256(key, seq ‖ version ‖ prev ‖ payload), and prev
// is the link of the entry before it. So each entry carries a hash of the
// one before it, and is authenticated at its place: an entry altered,
// moved (swapped with another) or replaced is named exactly, and one
// deleted leaves a gap that is. The link is keyed — not a plain hash —
// so that an intruder cannot rewrite an entry and recompute the chain from
// there; [Verify] then names the first entry they touched, not just a
// stretch of them.
//
// Three MACed marks, each under a label of its own so that none passes for
// another, pin the chain down:
//
//   - the head: the last entry's sequence number and link, rewritten with
//     every entry appended. Entries cut off the tail are missing before it;
//     entries added after it are outside the trail.
//   - checkpoints, every [Config.CheckpointEvery] entries (1024): the link
//     at that entry and the checkpoint before it, so that they form a chain
//     of their own and one deleted is missed. Retention removes whole
//     segments between checkpoints.
//   - the base: the last entry retention removed. Verification starts
//     after it and the first entry left must link to it; the base is
//     written only by the sweep, with its own MAC, so deleting the oldest
//     entries any other way is caught (a checkpoint's MAC copied into the
//     base does not authenticate as one).
//
// What the chain cannot show from the database alone is a rollback of the
// whole trail — entries, head and all — to a copy taken earlier, which is
// consistent in itself. [Report.Head] is the value to keep elsewhere
// (-verify-audit prints it; the export's last line carries it as "hash"):
// a head that goes back is that rollback.
//
// # The key
//
// The MACs are under a random 32-byte key that the first process creates
// and keeps in the store wrapped by the master keyring (as
// internal/wrappedkey keeps the deployment's other keys): it is derived
// from the master key in the sense that only a holder of the master key
// can open it. A key computed from the master identity itself (HKDF over
// it) was the other choice; it would change with every master-key
// rotation, and every MAC of the trail with it, while a wrapped key is
// re-wrapped by [Log.RewrapMasterKey] and stays the same, so the trail
// verifies across rotations.
//
// The wrapping is age's, which is anonymous: whoever knows the master
// key's public half could wrap a key of their own, put it in place of the
// trail's and rewrite the whole trail under it. cardvault never stores or
// shows that public half, and the replacement shows: the key's id
// ([Report.Key]) stays the same for the life of a deployment, so record
// it once, with the head.
//
// # Concurrency and processes
//
// Any number of processes keep one chain in one store (pgstore). One
// chain, not one per process joined by the verifier, because a chain per
// process does not remove the contention that matters: within one server
// the requests are concurrent too, and every writer that appends to a
// chain in its own transaction reads and writes that chain's head. On
// pgstore, whose transactions are SERIALIZABLE, concurrent writers then
// conflict and are retried. Measured (BenchmarkContention, 64 writers on
// pgstore, each committing a small transaction plus the trail's part, on
// the busy 2-core development machine, medians of 3):
//
//	the work alone                             4,880 tx/s
//	one Put aside (what Record does)           2,752 tx/s
//	appended to one chain in the transaction     933 tx/s
//	appended to one of 16 chains, at random    1,351 tx/s
//
// So by default Record writes its entry aside — one Put of a key of its
// own, which conflicts with nothing — and every process runs a chainer
// that, every [Config.FlushEvery] (100 ms), appends what was recorded (by
// any process, including one that died) and what this process noted, in
// one transaction of up to 1024 of each. Chainers of several processes
// take turns on the head (serializable transactions: one commits, the
// other retries). A chainer looks for the entries recorded in the last
// 10 s by its clock, and for all of them every 30 s (Flush and Close
// always): the pending entries are a queue in the store, and on
// PostgreSQL the rows chained and deleted stay in the index until VACUUM,
// so a scan from the start of the queue would walk all of them each time.
// An entry of a transaction open longer than that, or of a process whose
// clock is behind, waits for the next full scan. A pending entry is authenticated on its own (a MAC over
// its key and payload), so it cannot be altered or forged while it waits,
// and Verify checks those too; what the trail cannot show is a pending
// entry deleted by an intruder within those 100 ms — one with live write
// access to the database, who could as well write to it without cardvault.
//
// On a store that runs write transactions one at a time (boltstore,
// memstore) there is nothing to conflict on, and [Config.ChainInTransaction]
// appends in the caller's transaction: one write of the entry instead of
// two, and no chaining transaction. examples/server sets it on boltstore.
//
// Notes are kept in memory until they are chained: a crash loses at most
// the last FlushEvery of reads and refusals, never a write's entry. When
// [Config.MaxNotes] wait (the store is down), further notes are dropped and
// counted, and the next flush chains an [OpAuditNotesDropped] entry with
// their number: the loss is in the trail.
//
// # Reading
//
// Entries are indexed by account (the account, its time and its sequence
// number, in the bucket audit.index), so that [Log.List] reads one
// account's events, newest first, without scanning the others'. Verify
// checks that the index holds exactly one key per entry with an account —
// an entry hidden from its account's listing is tampering too.
// [Log.Export] writes entries as JSON lines ([ExportLine]) with their prev
// and link, in pages of read transactions.
//
// # Retention
//
// Each checkpoint, when written, sets an entry of package expiry's index
// (kind "audit.segment") for when the entries up to it may go:
// [Config.Retention] later (400 days by default; PCI DSS asks for a year).
// The shared sweeper then removes the segment, its index keys and its
// checkpoint, and moves the base to it, in one transaction. The sweep
// needs the trail's key to MAC the base, so it runs in a process with an
// open Log (every server); elsewhere it waits.
//
// # Verifying
//
// [Verify] reads the whole trail in one read-only transaction and writes
// nothing: the marks, every entry from the base to the head, the
// checkpoints, the index, the pending entries. The first fault is a
// [*TamperError] wrapping [ErrTampered] that names it ("entry 17: it does
// not authenticate at its place (altered or moved)"). A million entries on
// boltstore take 2 to 4 s on the busy 2-core development machine
// (BenchmarkVerify1M; the budget is 10 s). examples/server -verify-audit runs it on the
// server's data; on the embedded store, with the server stopped.
//
// # At rest
//
// Buckets: audit.key (the wrapped key), audit.meta (head, base),
// audit.chain, audit.checkpoints, audit.pending, audit.index. Entries are
// not encrypted — they hold ids, which the services already keep in clear
// in their own indexes — but authenticated.
package audit
