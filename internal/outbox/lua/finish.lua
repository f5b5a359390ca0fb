-- Put entry ARGV[3] in its final state: XACK, the status event, and the
-- quota view brought in line with what WeChat answered. Only the worker
-- whose XACK acks the entry records it, so a message finished twice (two
-- workers after a claim) has one final event.
-- ARGV: [1] prefix [2] group [3] id [4] now ms [5] status [6] reason
-- [7] code [8] errcode [9] quota: "" | "zero" (WeChat says the window or
-- the quota is gone) | "refund" (WeChat refused without counting the send)
-- [10] how many messages the session's context list keeps
-- Returns 1, or 0 if the entry was already final.
local id, now = ARGV[3], ARGV[4]
if redis.call('XACK', stream, ARGV[2], id) == 0 then return 0 end
local attempts = redis.call('HGET', stream .. ':attempts', id) or '0'
redis.call('HDEL', stream .. ':attempts', id)
redis.call('ZREM', stream .. ':retry', id)
local e = redis.call('XRANGE', stream, id, id)
local m = {account = '', openid = '', session = '', kind = ''}
if #e > 0 then m = fields(e[1][2]) end
local _, till, qk, field = quota_of(m.account, m.openid)
if ARGV[9] == 'zero' and till > 0 then
  redis.call('HSET', qk, field, 0)
elseif ARGV[9] == 'refund' and till > 0 then
  -- 5 is the most a window grants (docs/wechat.md, "The 48-hour window and reply quota"); a new user message may have reset
  -- the view since the unit was reserved.
  if redis.call('HINCRBY', qk, field, 1) > 5 then redis.call('HSET', qk, field, 5) end
end
status(m, id, ARGV[5], ARGV[6], ARGV[7], ARGV[8], attempts, now)
if ARGV[5] == 'sent' then remember_sent(m, id, now, tonumber(ARGV[10])) end
return 1
