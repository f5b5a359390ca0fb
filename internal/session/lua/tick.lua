-- Idle expiry: claim what is due, atomically, so each session is warned
-- once and closed once however many replicas tick. Cost: O(due). Only a
-- serving session whose user owes the reply is in <prefix>deadlines (see
-- owe in common.lua); anything else found there is dropped.
-- ARGV: [1] prefix [2] now ms [3] limit [4] warn-before ms [5] texts: JSON
-- {account: [warning, closing, survey msgmenu JSON]}, "" for every other
-- account [6] unused [7] reserved units [8] return window ms [9] unused
-- [10] how long the survey is open, ms
-- Returns a flat list: kind, account, openid, session id, freed agent,
-- session duration ms (closes, else 0), …
local now = tonumber(ARGV[2])
local texts = cjson.decode(ARGV[5])
local function text(account, i)
  local t = texts[account] or texts['']
  return (t and t[i]) or ''
end
local due = redis.call('ZRANGEBYSCORE', P .. 'deadlines', '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, key in ipairs(due) do
  local s = session_get(key)
  if not s or s.state ~= 'serving' then
    redis.call('ZREM', P .. 'deadlines', key)
    if not s then live_remove(key) end
  elseif s.warned ~= '1' then
    redis.call('HSET', key, 'warned', '1')
    redis.call('ZADD', P .. 'deadlines', now + tonumber(ARGV[4]), key)
    emit('session.warned', s, now, 'scheduler', 'idle', {})
    notice(s.account, s.openid, s.id, text(s.account, 1), tonumber(ARGV[7]), now)
    for _, v in ipairs({'warn', s.account, s.openid, s.id, '', '0'}) do out[#out + 1] = v end
  else
    release(s)
    local freed = s.agent
    redis.call('SET', P .. 'last:' .. s.account .. ':' .. s.openid, s.agent, 'PX', tonumber(ARGV[8]))
    count_move('state', s.state, nil)
    quota_keep(s, now)
    redis.call('DEL', key, context_key(s.account, s.openid))
    sid_del(s.id)
    redis.call('ZREM', P .. 'deadlines', key)
    live_remove(key)
    s.state = 'closed'
    emit('session.closed', s, now, 'scheduler', 'idle timeout', {})
    notice(s.account, s.openid, s.id, text(s.account, 2), 0, now)
    survey(s.account, s.openid, s.id, text(s.account, 3), tonumber(ARGV[10]), now, freed)
    for _, v in ipairs({'close', s.account, s.openid, s.id, freed, tostring(now - tonumber(s.created or now))}) do out[#out + 1] = v end
  end
end
return out
