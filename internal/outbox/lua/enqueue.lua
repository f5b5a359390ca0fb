-- Enqueue one message after the pre-check of WeChat's window and reply
-- quota (docs/wechat.md, "The 48-hour window and reply quota"), reserving one unit of the quota view.
-- ARGV: [1] prefix [2] now ms [3] account [4] openid [5] session [6] kind
-- [7] msgtype [8] content [9] body JSON [10] kf_account [11] agent [12] ref
-- [13] reason for a closed window (45015) [14] reason for a used-up quota (45047)
-- [15] the message's preview for the live list (JSON; "" = none)
-- Returns {'queued', id} or {'refused', code}; a refusal is recorded as a
-- "failed" status event without an id.
local now = ARGV[2]
local m = {account = ARGV[3], openid = ARGV[4], session = ARGV[5], kind = ARGV[6], agent = ARGV[11], ref = ARGV[12]}
local left, till, qk, field = quota_of(m.account, m.openid)
if till < tonumber(now) then
  status(m, '', 'failed', ARGV[13], 'window_closed', '45015', '0', now)
  return {'refused', 'window_closed'}
end
if left <= 0 then
  status(m, '', 'failed', ARGV[14], 'quota_exhausted', '45047', '0', now)
  return {'refused', 'quota_exhausted'}
end
redis.call('HINCRBY', qk, field, -1)
local f = {'account', m.account, 'openid', m.openid, 'session', m.session, 'kind', m.kind,
  'msgtype', ARGV[7], 'content', ARGV[8]}
for i, name in ipairs({'body', 'kf_account', 'agent', 'ref'}) do
  if ARGV[8 + i] ~= '' then
    table.insert(f, name)
    table.insert(f, ARGV[8 + i])
  end
end
local id = redis.call('XADD', stream, '*', unpack(f))
status(m, id, 'queued', '', '', '0', '0', now)
if ARGV[15] ~= '' then spoke(m, ARGV[15], now) end
return {'queued', id}
