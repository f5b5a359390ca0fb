// Package outbox sends everything kfgate says to WeChat users — agents'
// answers, the engine's notices, surveys — through one durable,
// rate-limited, retrying queue: the Redis stream <prefix>outbox, read by a
// consumer group from every replica.
//
// # Delivery guarantee
//
// At least once. A message is appended to the stream before any attempt
// (Enqueue; the engine's scripts append notices themselves) and acked only
// when it reached a final state, sent or failed, in the same Lua script
// that records the status event. A worker that dies mid-send leaves its
// entry pending; after Options.ClaimIdle another worker takes it over with
// XAUTOCLAIM and sends it again.
//
// An ambiguous failure — a timeout or a dropped connection after the
// request left, an HTTP 5xx — may hide a send that reached WeChat.
// custom/send has no idempotency key, so kfgate cannot ask; it retries, and
// the user may then see the message twice. kfgate prefers a duplicate to a
// loss. The same holds for a worker killed after WeChat answered but before
// the ack, and for a call that outlives ClaimIdle (keep ClaimIdle well
// above the HTTP timeout): two workers may send it. Only one of them
// records the final status (the first XACK wins).
//
// Order per user is best effort: entries are read in stream order, but N
// workers send in parallel and a retried message goes out after later ones.
//
// # WeChat's rules
//
// WeChat accepts custom/send only inside the user's window (48 h after a
// message, 1 min after a click, follow or scan) and within its quota (5 or
// 3 sends), answering 45015 and 45047 otherwise (docs/wechat.md, "The 48-hour window and reply quota" and "Error codes"). The
// engine keeps a view of both in <prefix>quota:<account>:<openid> (left,
// until in Unix ms). Enqueue checks it and reserves one unit (HINCRBY left
// −1) atomically with the XADD, as the engine's notice() does, so a message
// WeChat would refuse is refused at once, without a call. The worker checks
// the window again before the call (it may have closed while the message
// waited; notices only get this check). When WeChat still refuses, the view
// is corrected: 45015, 45047, 43004 and 40003 set left to 0; another refusal
// (45002 too long, 44004 empty …) gives the reserved unit back.
//
// -1, the token codes, HTTP 5xx and network errors are retried with
// exponential backoff and jitter, up to Options.Retries times; every other
// errcode (45015, 45047, 43004, 40003, 45002, 44004 …) fails the message
// with its reason — but the account's quotas: 45009 (the day's) and 45011
// (the minute's) park the account, and every message of it waits in the
// retry set until the quota is back (midnight China time, the next minute)
// with one "parked" status event each. kfgate also counts each account's
// sends per China day and parks it on reaching Limit.DailyQuota, without
// spending a call on 45009 (docs/wechat.md, "API quotas").
//
// The rate is shared by every replica and taken as reservations
// (lua/rate.lua), so messages go out in the order the workers read them:
// the stream's, which is the order they were queued in; parked and retried
// messages are due before new ones are read, so the oldest go first.
//
// # Keys
//
//	<prefix>outbox                  stream: account openid session kind msgtype content
//	                                [body kf_account agent ref]; group Options.Group
//	<prefix>outbox:retry            zset: entry id → Unix ms its next attempt is due
//	<prefix>outbox:attempts         hash: entry id → attempts so far (deleted when final)
//	<prefix>outbox:status:<id>      hash: status reason code errcode attempts at (kept 7 days)
//	<prefix>outbox:rate:<account>   string: the GCRA "theoretical arrival time" (µs)
//	<prefix>outbox:day:<account>:<yyyymmdd>  string: the day's sends (China time)
//	<prefix>outbox:parked:<account> string: "<until ms>:<errcode>" while its quota is spent
//	<prefix>events                  stream: type=message.status session event(JSON)
//	<prefix>agent:<agent>:events    Pub/Sub: the same event JSON
package outbox
