-- GCRA (the algorithm of go-redis/redis_rate): account ARGV[2] may send
-- once every ARGV[3] µs, up to ARGV[4] back to back.
-- The clock is Redis's TIME, the one clock every replica shares.
-- ARGV: [1] prefix [2] account [3] interval µs [4] burst
-- Returns 0 when the send may go now, else the µs to wait.
local key = stream .. ':rate:' .. ARGV[2]
local interval, burst = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', key) or '0')
if tat < now then tat = now end
local newtat = tat + interval
local wait = newtat - now - burst * interval
if wait > 0 then return math.ceil(wait) end
redis.call('SET', key, string.format('%d', newtat), 'PX', math.ceil((newtat - now) / 1000) + 1000)
return 0
