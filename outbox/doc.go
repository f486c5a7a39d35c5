// Package outbox is cardvault's durable queue of work to do outside a
// transaction — a webhook to deliver, a request to send to a payment
// provider — enqueued inside the transaction of the work that causes it.
//
// # The contract
//
// [Outbox.Enqueue] writes a [Job] through the caller's store.Tx: the job
// exists if and only if that transaction commits, so a crash can neither
// lose an acknowledged job nor leave one behind for work that did not
// happen. Workers ([Outbox.Run]) then deliver each job to the [Handler] of
// its kind, at least once:
//
//   - A worker claims a job with a lease ([Config.Lease]) and a fencing
//     counter, in a store transaction, so that any number of processes on
//     one store (pgstore) never run one job in two places at once: the
//     handler's context ends before the lease does, and a completion whose
//     fence is not the job's current one — a worker that outlived its lease
//     while another took the job over — changes nothing.
//   - A handler that returns nil has done the job: it is deleted. One that
//     fails is tried again after an exponential backoff with jitter
//     ([Config.Backoff], doubling up to [Config.MaxBackoff]), up to the
//     job's MaxTries; then, or at once for a [Permanent] error, the job is
//     dead-lettered: kept for [Config.DeadTTL], listed by
//     [Outbox.DeadLetters], and tried again from the start by
//     [Outbox.Retry].
//   - A worker that dies mid-delivery (a killed process) leaves its lease
//     to run out; the job is then claimed again, by any process. Handlers
//     must therefore be idempotent, or let their receiver de-duplicate by
//     the delivery id ([Delivery.ID], stable across tries).
//
// # Fairness
//
// Every job belongs to a tenant (an account, an API key). At most
// [Config.PerTenant] jobs of one tenant run at once, counted in the store
// across every process, so that one tenant whose endpoint never answers
// holds a few workers until their timeouts, never all of them: the
// others' jobs go on. Ready jobs are queued per tenant, and workers take
// the tenants whose oldest job is due first.
//
// # At rest
//
// A job's payload is sealed (XChaCha20-Poly1305) under the outbox's key,
// itself wrapped by the master keyring, with the job's id as additional
// data; kind, tenant, tries and times are stored in clear for the workers.
// Buckets: outbox.meta, outbox.jobs, outbox.queue, outbox.heads,
// outbox.tenants, outbox.leases, outbox.running, outbox.dead; dead letters
// expire through package expiry (kind "outbox.dead").
package outbox
