-- Remove an agent from routing. Its serving sessions go to the front of
-- their queues, as transfers (the next agent gets the context replayed).
-- ARGV: [1] prefix [2] id [3] now ms [4] "offline" to keep the agent,
-- offline by its own choice (its access was revoked: only the agent
-- setting its status brings it back), instead of removing it
-- Returns the accounts whose queues got sessions.
local id, now, keep = ARGV[2], ARGV[3], ARGV[4] == 'offline'
local reason = 'agent removed'
if keep then reason = 'access revoked' end
local k = agent_key(id)
local a = hgetall(k)
if not a then return {} end
local touched = {}
for _, member in ipairs(redis.call('SMEMBERS', k .. ':sessions')) do
  local account, openid = string.match(member, '^([^:]+):(.+)$')
  local key = session_key(account, openid)
  local s = session_get(key)
  if s and s.state == 'serving' and s.agent == id then
    s.agent, s.state = '', 'transferring'
    redis.call('HSET', key, 'state', 'transferring', 'agent', '', 'from_agent', id, 'updated', now, 'queued_at', now)
    live_remove(key) -- queued: its queue lists it (live_touch in common.lua)
    count_move('state', 'serving', 'transferring')
    owe_none(key)
    redis.call('ZREM', P .. 'deadlines', key)
    local eid = emit('session.transferred', s, now, 'admin', reason, {from_agent = id})
    queue_count(account, s.skill, queue_add(queue_key(account, s.skill or ''), openid, true, queue_score(now, eid)))
    touched[account] = true
  end
end
if keep then
  count_move('agents', a.status, 'offline')
  redis.call('HSET', k, 'status', 'offline', 'wanted', 'offline', 'load', 0, 'seen', now)
  redis.call('ZREM', P .. 'presence', id)
  redis.call('DEL', k .. ':sessions')
  local out = {}
  for acct in pairs(touched) do out[#out + 1] = acct end
  return out
end
for acct in string.gmatch(a.accounts or '', '[^,]+') do
  redis.call('SREM', P .. 'account:' .. acct .. ':agents', id)
end
redis.call('SREM', P .. 'agents', id)
count_move('agents', a.status, nil)
redis.call('ZREM', P .. 'presence', id)
came_back(id) -- nothing left to reassign
redis.call('DEL', k, k .. ':sessions')
local out = {}
for acct in pairs(touched) do out[#out + 1] = acct end
return out
