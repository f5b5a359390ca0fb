-- Shared by every outbox script (prepended to each). ARGV[1] is the key
-- prefix; like the session scripts, these compute the keys they touch, so
-- they need one Redis (not a cluster).
local P = ARGV[1]
local stream = P .. 'outbox'
local statusTTL = 7 * 24 * 3600 * 1000 -- how long <prefix>outbox:status:<id> is kept (ms)

-- status records a status change of message m (the outbox entry's fields)
-- in the status hash and as a "message.status" event, shaped like the
-- engine's emit in session/lua/common.lua: an entry in the events stream
-- and a message on the channel of the session's agent (and of the agent
-- who wrote the message, if another one).
local function status(m, id, st, reason, code, errcode, attempts, now)
  if id ~= '' then
    local sk = stream .. ':status:' .. id
    redis.call('HSET', sk, 'status', st, 'reason', reason, 'code', code, 'errcode', errcode,
      'attempts', attempts, 'at', now)
    redis.call('PEXPIRE', sk, statusTTL)
  end
  local sess = redis.call('HMGET', P .. 'sess:' .. m.account .. ':' .. m.openid, 'id', 'agent')
  local agent = ''
  if sess[1] == m.session and sess[2] then agent = sess[2] end
  local msg = {id = id, status = st, reason = reason, code = code, errcode = tonumber(errcode),
    kind = m.kind, ref = m.ref or '', attempts = tonumber(attempts)}
  local ev = {type = 'message.status', session = m.session, account = m.account, openid = m.openid,
    agent = agent, actor = 'outbox', reason = reason, at = tonumber(now), message = msg}
  local body = cjson.encode(ev)
  redis.call('XADD', P .. 'events', '*', 'type', 'message.status', 'session', m.session, 'event', body)
  local sent = {}
  for _, who in ipairs({agent, m.agent or ''}) do
    if who ~= '' and not sent[who] then
      sent[who] = true
      redis.call('PUBLISH', P .. 'agent:' .. who .. ':events', body)
    end
  end
end

-- quota_of returns kfgate's view of the user's reply window: the units
-- left, until when (ms), and the hash and field that hold the units. It is
-- in the live session's hash (qleft, quntil) while there is one, else in
-- <prefix>quota:<account>:<openid> (see quota_of in
-- internal/session/lua/common.lua, which owns both).
local function quota_of(account, openid)
  local sk = P .. 'sess:' .. account .. ':' .. openid
  local q = redis.call('HMGET', sk, 'qleft', 'quntil')
  if q[2] then return tonumber(q[1] or '0'), tonumber(q[2]), sk, 'qleft' end
  local qk = P .. 'quota:' .. account .. ':' .. openid
  q = redis.call('HMGET', qk, 'left', 'until')
  return tonumber(q[1] or '0'), tonumber(q[2] or '0'), qk, 'left'
end

-- The session's side of a message to the user (the session scripts in
-- internal/session/lua own these keys; see common.lua there): the live
-- list's view of the session and its context list.
local function session_of(m)
  local key = P .. 'sess:' .. (m.account or '') .. ':' .. (m.openid or '')
  if m.session == nil or m.session == '' or redis.call('HGET', key, 'id') ~= m.session then return nil end
  return key
end

-- spoke records that a message to the user was queued: the session's last
-- message is it and, when an agent wrote it, the user is answered (no
-- unread message, no longer waiting).
local function spoke(m, preview, now)
  local key = session_of(m)
  if not key then return end
  redis.call('HSET', key, 'last', preview, 'updated', now)
  if m.kind == 'agent' then
    redis.call('HSET', key, 'unread', 0)
    redis.call('HDEL', key, 'waiting_since')
    -- The agent wrote last: the user owes the reply now. The agent owes
    -- nothing (no reply SLA, no longer overdue), and the idle timer runs
    -- from here (idle_ms = idle_timeout - warn_before, set by the session
    -- scripts; see owe in internal/session/lua/common.lua).
    redis.call('HSET', key, 'answered', '1', 'warned', '0')
    redis.call('HDEL', key, 'overdue')
    for _, set in ipairs({'owe:first', 'owe:next', 'overdue_moves'}) do redis.call('ZREM', P .. set, key) end
    local idle = redis.call('HGET', key, 'idle_ms')
    if idle and redis.call('HGET', key, 'state') == 'serving' then
      redis.call('ZADD', P .. 'deadlines', tonumber(now) + tonumber(idle), key)
    end
  end
  -- The live index holds the served sessions only (XX: a queued one,
  -- told its place, stays out; internal/session/lua/common.lua, live_touch).
  redis.call('ZADD', P .. 'live', 'XX', tonumber(now), key)
end

-- remember_sent appends a message WeChat accepted to the session's context
-- list, as a kf.Item, so that the next agent's replay holds both sides.
local function remember_sent(m, id, now, size)
  local key = session_of(m)
  if not key then return end
  local author = 'system'
  if m.kind == 'agent' then author = 'agent' end
  local item = {id = id, direction = 'out', author = author, kind = m.kind, type = m.msgtype or 'text', at = tonumber(now)}
  if m.agent and m.agent ~= '' then item.agent = m.agent end
  if m.content and m.content ~= '' then item.content = m.content end
  if m.body and m.body ~= '' then
    local ok, b = pcall(cjson.decode, m.body)
    if ok and type(b) == 'table' and type(b.media_id) == 'string' then item.media_id = b.media_id end
  end
  local ck = P .. 'ctx:' .. m.account .. ':' .. m.openid
  redis.call('RPUSH', ck, cjson.encode(item))
  redis.call('LTRIM', ck, -size, -1)
end

local function fields(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
