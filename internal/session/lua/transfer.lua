-- Hand a serving session to another agent, or to a skill group's queue.
-- ARGV: [1] prefix [2] account [3] openid [4] target agent ("" = none free)
-- [5] skill of the target group [6] actor [7] reason [8] now ms
-- [9] "1": queue at the front (the agent left; the user waited already)
-- Returns {outcome, agent}: transferred | queued | conflict, or an error
-- reply "not_serving" / "no_session".
local account, openid, now = ARGV[2], ARGV[3], ARGV[8]
local key = session_key(account, openid)
local s = session_get(key)
if not s then return redis.error_reply('no_session') end
if s.state ~= 'serving' then return redis.error_reply('not_serving') end
local from = s.agent
local skill = ARGV[5]
local target = ARGV[4]
local replay = {context = context_json(account, openid)}
if target ~= '' then
  local a = hgetall(agent_key(target))
  if not can_take(a, account, skill, from) then return {'conflict', ''} end
  release(s)
  redis.call('HSET', key, 'skill', skill)
  s.skill = skill
  local cap = give(key, s, a, now)
  redis.call('HINCRBY', key, 'transfers', 1)
  emit('session.transferred', s, now, ARGV[6], ARGV[7], {from_agent = from, load = cap.load, max = cap.max}, replay)
  return {'transferred', a.id}
end
if queue_len(queue_key(account, skill)) == 0 then
  -- the router found nobody: if someone other than the current agent is
  -- free after all, its view was stale; let it look again
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'account:' .. account .. ':agents')) do
    if can_take(hgetall(agent_key(id)), account, skill, from) then return {'conflict', ''} end
  end
end
release(s)
s.agent = ''
s.state = 'transferring'
s.skill = skill
count_move('state', 'serving', 'transferring')
redis.call('HSET', key, 'state', 'transferring', 'agent', '', 'skill', skill, 'from_agent', from, 'updated', now,
  'queued_at', now)
live_remove(key) -- queued: its queue lists it (live_touch in common.lua)
redis.call('HINCRBY', key, 'transfers', 1)
redis.call('ZREM', P .. 'deadlines', key) -- waiting again: never idle-closed
local q = queue_key(account, skill)
-- The user's place: first for a move to the front, else the end (the
-- queue's count, the user counted). The event comes first: its id is
-- the place's score (queue_score).
local front = ARGV[9] == '1'
local pos = queue_count(account, skill, 1)
if front then pos = 1 end
local id = emit('session.transferred', s, now, ARGV[6], ARGV[7], {from_agent = from, position = pos})
if queue_add(q, openid, front, queue_score(now, id)) == 0 then queue_count(account, skill, -1) end
return {'queued', ''}
