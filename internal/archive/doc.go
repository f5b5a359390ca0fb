// Package archive keeps kfgate's history in PostgreSQL: sessions with every
// transition, and messages in both directions with their delivery status.
// It reads the Redis stream <prefix>events, which the session scripts and
// the outbox append to, through the consumer group "archive" shared by every
// replica, and writes in batches.
//
// # Delivery guarantee
//
// At least once from Redis, idempotent in PostgreSQL. A batch of up to
// Options.Batch entries is written in one transaction (COPY into a staging
// table, then INSERT … ON CONFLICT) and acknowledged (XACK) only after
// COMMIT. Every row is keyed by a stream entry id: a transition and an
// inbound message by the id of their event, an outbound message by the id of
// its outbox entry. An entry delivered twice — a crash between COMMIT and
// XACK, a replica's entries taken over with XAUTOCLAIM after
// Options.ClaimIdle, a replay from the start of the stream — writes nothing
// new.
//
// When PostgreSQL is down, the batch is retried with exponential backoff
// and stays pending; later events wait in the stream (the group's lag). Both
// show in kfgate_archive_backlog, and both drain when PostgreSQL is back.
// Nothing is trimmed from the stream by this package.
//
// # Order
//
// Events of one session are archived in stream (entry id) order within a
// batch, and a session's row is recomputed from all of its archived
// transitions, ordered by entry id, after each batch: an entry claimed late
// from a dead replica cannot move a session back to an older state, and an
// outbound message's status follows the latest message.status event by
// entry id.
//
// # Outbound messages
//
// A message.status event carries the outbox entry id but not the text. The
// writer reads the outbox entries a batch names (one pipelined XRANGE per
// entry, one round trip for the batch) and stores their msgtype and
// content; the outbox keeps its entries (it acks, never deletes them). An
// entry gone from the stream leaves the content empty; a later status event
// of the same message fills it if the entry is found then.
package archive
