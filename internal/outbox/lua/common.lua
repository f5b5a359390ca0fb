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

local function fields(flat)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
