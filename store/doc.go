// Package store is cardvault's storage seam: a small, ordered, transactional
// key/value interface that every piece of state goes through — vault items,
// keys, capture grants, hosted forms, secure tokens, single-use tokens and
// idempotency records.
//
// The domain packages take a *[Store] and never learn which backend is
// behind it. [Store] is a portable type over a small driver interface
// ([github.com/cardvault/cardvault/store/driver]), as gocloud.dev's
// blob.Bucket is over its driver.Bucket: argument checks, the closed state,
// the "used after its function returned" check, commit counting and
// [Store.Ping] live here once, and a backend only stores. cardvault ships
// three backends:
//
//   - [github.com/cardvault/cardvault/store/memstore]: in memory, for tests
//     and examples;
//   - [github.com/cardvault/cardvault/store/boltstore]: one file on local
//     disk (go.etcd.io/bbolt), the embedded default, with group commit;
//   - [github.com/cardvault/cardvault/store/pgstore]: PostgreSQL
//     (github.com/jackc/pgx/v5), for any number of servers sharing one
//     database.
//
// Every backend passes the conformance suite in
// [github.com/cardvault/cardvault/store/storetest]; a new backend is done when
// it does.
//
// # Data model
//
// A store holds buckets; a bucket holds keys in bytewise (bytes.Compare)
// order. Bucket names are 1 to [MaxBucketLen] bytes of [a-z0-9_.-]; keys are 1
// to [MaxKeySize] arbitrary bytes; values are 0 to [MaxValueSize] arbitrary
// bytes. A bucket springs into existence at its first Put and reads as empty
// before that: there is no create or drop.
//
// # Transactions
//
// [Store.View] runs a function in a read-only transaction; [Store.Update] runs
// one in a read-write transaction. Transactions are serializable: the outcome
// of any set of concurrent transactions is the outcome of running them one
// after another in some order. In particular a read-modify-write inside
// Update never loses a concurrent one.
//
// Update is atomic: when fn returns an error or panics, none of its writes
// take effect, the error (or panic) reaches the caller, and the store is as
// before. When Update returns nil the transaction is durable to the degree
// the backend promises (boltstore and pgstore: on disk).
//
// A backend may run fn more than once for one call — after a serialization
// failure, or when it commits many callers' transactions together — so fn
// must have no effect outside its [Tx] that cannot be repeated: compute
// results into variables that each run overwrites. A backend that gives up
// retrying returns an error wrapping [ErrConflict].
//
// A [Tx] is valid only inside the function it was passed to and only on the
// goroutine that runs it. Slices returned by [Tx.Get] and passed to a
// [Tx.Scan] callback belong to the caller, who may keep and modify them;
// slices passed to [Tx.Put] may be reused as soon as Put returns.
//
// Inside Update, a [Tx.Scan] callback may Put or Delete the key it is
// visiting, and the scan goes on with the next key. Whether a scan visits
// keys that its callback inserts or deletes further along the range is
// unspecified.
//
// # Context
//
// The context given to View or Update bounds the whole transaction. A context
// that is done before the transaction commits makes it roll back and return
// an error wrapping the context's error.
//
// # Health and counters
//
// [Store.Ping] tells whether a transaction could run now: a server's
// readiness check calls it. Backends recover on their own when their storage
// comes back (pgstore, whose server may restart or fail over): a transaction
// that fails because of it returns an error, and the next one tries again.
// [Store.Stats] counts the commits callers waited for, so that a test can
// assert how many durable commits an operation costs.
//
// # Errors
//
// Callers test errors with errors.Is against the sentinels of this package:
// [ErrNotFound], [ErrConflict], [ErrCommitUnknown], [ErrUnavailable], [ErrClosed],
// [ErrReadOnly], [ErrInvalid].
package store
