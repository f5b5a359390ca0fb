-- The account's turn to send, shared by every replica: first its parking
-- (WeChat's daily or minute quota spent, docs/wechat.md, "API quotas"),
-- then kfgate's own count of the day's sends, then the rate.
-- The rate is GCRA (the algorithm of go-redis/redis_rate) taking
-- reservations: every caller gets the next free slot and is told how long
-- to wait for it, so sends go out in the order the workers asked — the
-- order they read the stream in — and a message read early is never
-- overtaken by one read later that happened to ask at the right moment.
-- Account ARGV[2] may send once every ARGV[3] µs, ARGV[4] back to back.
-- The rate's clock is Redis's TIME, the one clock every replica shares;
-- the parking and the day are on the workers' clock (ARGV[8]), which the
-- tests move.
-- ARGV: [1] prefix [2] account [3] interval µs [4] burst [5] daily quota
-- (0: not counted) [6] the day (yyyymmdd, China time) [7] when that day
-- ends (ms) [8] now ms
-- Returns {0, µs to wait for the slot} or {1, ms the account is parked
-- until, the errcode it was parked for}.
local account = ARGV[2]
local interval, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local quota, dayend, nowms = tonumber(ARGV[5]), tonumber(ARGV[7]), tonumber(ARGV[8])
local parked = stream .. ':parked:' .. account
local till, code = string.match(redis.call('GET', parked) or '', '^(%d+):(%d+)$')
if till and tonumber(till) > nowms then return {1, tonumber(till), tonumber(code)} end
local day = stream .. ':day:' .. account .. ':' .. ARGV[6]
if quota > 0 and tonumber(redis.call('GET', day) or '0') >= quota then
  redis.call('SET', parked, dayend .. ':45009', 'PX', dayend - nowms + 60000)
  return {1, dayend, 45009}
end
local key = stream .. ':rate:' .. account
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or '0')
if tat < now then tat = now end
local newtat = tat + interval
local wait = newtat - now - burst * interval
if wait < 0 then wait = 0 end
redis.call('SET', key, string.format('%d', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1000)
if quota > 0 then
  redis.call('INCR', day)
  redis.call('PEXPIRE', day, dayend - nowms + 86400000)
end
return {0, math.ceil(wait)}
