-- Shared by every session script (prepended to each). ARGV[1] is the key
-- prefix; the scripts compute the keys they touch, so kfgate needs one
-- Redis (not a cluster) or keys that hash to one slot.
local P = ARGV[1]

local function hgetall(key)
  local r = redis.call('HGETALL', key)
  if #r == 0 then return nil end
  local t = {}
  for i = 1, #r, 2 do t[r[i]] = r[i + 1] end
  return t
end

local function session_key(account, openid) return P .. 'sess:' .. account .. ':' .. openid end
local function agent_key(id) return P .. 'agent:' .. id end
local function queue_key(account, skill) return P .. 'queue:' .. account .. ':' .. skill end
local function context_key(account, openid) return P .. 'ctx:' .. account .. ':' .. openid end

-- Lists are stored as ",a,b," so that membership is one plain find.
local function has(list, item)
  return item == '' or string.find(list or '', ',' .. item .. ',', 1, true) ~= nil
end

-- can_take reports whether agent a may get a new session of account/skill.
local function can_take(a, account, skill, exclude)
  return a ~= nil and a.status == 'online' and a.id ~= exclude
    and tonumber(a.load) < tonumber(a.max)
    and has(a.accounts, account) and has(a.skills, skill)
end

-- emit records a transition: an entry in the events stream (for the
-- archive) and a message on the agent's channel (for the agent, whichever
-- replica holds its WebSocket). Both in script order, so in order per session.
local function emit(typ, s, now, actor, reason, extra)
  local ev = {type = typ, session = s.id, account = s.account, openid = s.openid, state = s.state, skill = s.skill or "",
    agent = s.agent or '', actor = actor, reason = reason, at = now}
  for k, v in pairs(extra or {}) do ev[k] = v end
  local body = cjson.encode(ev)
  redis.call('XADD', P .. 'events', '*', 'type', typ, 'session', s.id, 'event', body)
  for _, who in ipairs({s.agent or '', (extra or {}).from_agent or ''}) do
    if who ~= '' then redis.call('PUBLISH', P .. 'agent:' .. who .. ':events', body) end
  end
end

-- give assigns session s (already in Redis as key) to agent a.
-- It returns the fields that show the assignment kept the agent within
-- its capacity, for the event.
local function give(key, s, a, now)
  s.agent = a.id
  s.state = 'serving'
  redis.call('HSET', key, 'state', 'serving', 'agent', a.id, 'updated', now)
  local load = redis.call('HINCRBY', agent_key(a.id), 'load', 1)
  redis.call('HSET', agent_key(a.id), 'last_assigned', now)
  redis.call('SADD', agent_key(a.id) .. ':sessions', s.account .. ':' .. s.openid)
  redis.call('ZADD', P .. 'served', now, key) -- for the transfer-after rule
  return {load = load, max = tonumber(a.max)}
end

-- release takes session s off its agent.
local function release(s)
  if s.agent ~= nil and s.agent ~= '' then
    redis.call('HINCRBY', agent_key(s.agent), 'load', -1)
    redis.call('SREM', agent_key(s.agent) .. ':sessions', s.account .. ':' .. s.openid)
    redis.call('ZREM', P .. 'served', session_key(s.account, s.openid))
  end
end

-- any_agent_can_take reports whether some agent of the account could take
-- a session with this skill now (checked when a user is about to queue, so
-- that nobody waits while an agent is free).
local function any_agent_can_take(account, skill)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'account:' .. account .. ':agents')) do
    if can_take(hgetall(agent_key(id)), account, skill, '') then return true end
  end
  return false
end

-- notice appends an automatic message for the user to the outbox, unless
-- it would spend the reply units the agent's greeting and first answer
-- need (WeChat allows a few sends per user message, docs/wechat.md, "Customer-service API").
-- survey sends the satisfaction survey (a msgmenu, docs/wechat.md, "Customer-service API") of a
-- closed session if the user has a reply unit left, and remembers which
-- session the user's click will answer.
local function survey(account, openid, sid, body, ttl, now)
  if body == '' then return end
  local qk = P .. 'quota:' .. account .. ':' .. openid
  local left = tonumber(redis.call('HGET', qk, 'left') or '0')
  local till = tonumber(redis.call('HGET', qk, 'until') or '0')
  if till < tonumber(now) or left <= 0 then return end
  redis.call('HINCRBY', qk, 'left', -1)
  redis.call('XADD', P .. 'outbox', '*', 'account', account, 'openid', openid, 'session', sid,
    'kind', 'survey', 'msgtype', 'msgmenu', 'body', body)
  redis.call('SET', P .. 'survey:' .. account .. ':' .. openid, sid, 'PX', ttl)
end

local function notice(account, openid, sid, text, reserve, now)
  if text == '' then return end
  local qk = P .. 'quota:' .. account .. ':' .. openid
  local left = tonumber(redis.call('HGET', qk, 'left') or '0')
  local till = tonumber(redis.call('HGET', qk, 'until') or '0')
  if till < tonumber(now) or left <= reserve then return end
  redis.call('HINCRBY', qk, 'left', -1)
  redis.call('XADD', P .. 'outbox', '*', 'account', account, 'openid', openid, 'session', sid,
    'kind', 'notice', 'msgtype', 'text', 'content', text)
end
