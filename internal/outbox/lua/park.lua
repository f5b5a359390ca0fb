-- Park entry ARGV[4] until ARGV[6] ms: WeChat's quota for the account is
-- spent (45009 for the day, 45011 for the minute; docs/wechat.md, "API
-- quotas"), so the entry waits in the retry set for the quota to come
-- back instead of failing or retrying into the same refusal. The attempt
-- that found the account parked is not counted. Only the consumer that
-- owns the entry parks it.
-- ARGV: [1] prefix [2] group [3] consumer [4] id [5] now ms [6] until ms
-- [7] account, to park the whole account too ("" when it is parked
-- already) [8] reason [9] code [10] errcode
-- Returns 1, or 0 if the entry is not this consumer's any more.
local group, consumer, id, now, till = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 or p[1][2] ~= consumer then return 0 end
if ARGV[7] ~= '' then
  local parked = stream .. ':parked:' .. ARGV[7]
  local was = tonumber(string.match(redis.call('GET', parked) or '', '^(%d+):') or '0')
  if was < till then
    redis.call('SET', parked, ARGV[6] .. ':' .. ARGV[10], 'PX', till - now + 60000)
  end
end
redis.call('ZADD', stream .. ':retry', till, id)
local attempts = redis.call('HINCRBY', stream .. ':attempts', id, -1)
-- One "parked" event per message, however many times it is parked again
-- while it waits.
local sk = stream .. ':status:' .. id
if redis.call('HGET', sk, 'status') ~= 'parked' then
  local e = redis.call('XRANGE', stream, id, id)
  if #e > 0 then
    status(fields(e[1][2]), id, 'parked', ARGV[8], ARGV[9], ARGV[10], attempts, now)
  end
end
return 1
