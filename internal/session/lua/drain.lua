-- Capacity freed: give the head of a queue to an agent.
-- ARGV: [1] prefix [2] account [3] skill [4] agent proposed [5] now ms
-- [6] greeting ("" = none) [7] reserved reply units [8] the session's
-- idle_ms (idle_timeout - warn_before), written on assignment: a session
-- queued when it opened has none (inbound.lua)
-- Returns {outcome, openid, session id, ms waited}: assigned | empty | conflict.
-- The agent's event (session.assigned, or session.transferred for a queued
-- transfer) carries the session's context: what the user wrote while
-- waiting, and before.
local account, skill, now = ARGV[2], ARGV[3], ARGV[5]
local q = queue_key(account, skill)
local openid = queue_head(q)
if not openid then return {'empty', '', ''} end
local a = hgetall(agent_key(ARGV[4]))
if not can_take(a, account, skill, '') then return {'conflict', '', ''} end
local key = session_key(account, openid)
local s = session_get(key)
queue_count(account, skill, -queue_remove(q, openid))
if not s or (s.state ~= 'waiting' and s.state ~= 'transferring') then
  return {'empty', '', ''} -- a stale entry; the caller drains again
end
local was = s.state
local waited = tonumber(now) - tonumber(s.queued_at or s.created or now)
local from = s.from_agent or ''
local cap = give(key, s, a, now, ARGV[8])
if was == 'transferring' then
  redis.call('HDEL', key, 'from_agent')
  emit('session.transferred', s, now, 'router', 'capacity freed', {from_agent = from, load = cap.load, max = cap.max},
    {context = context_json(account, openid)})
else
  -- The agent sees what the user wrote while waiting.
  emit('session.assigned', s, now, 'router', 'capacity freed', cap, {context = context_json(account, openid)})
  greet(s, a, ARGV[6] or '', ARGV[7] or '2', now)
end
return {'assigned', openid, s.id, tostring(waited)}
