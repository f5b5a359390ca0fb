-- WeChat's customer-service tool moved a user (docs/wechat.md, "Agents in
-- WeChat's own tool"): a kf account took, or was switched, the user's
-- session there. kfgate's session follows, whatever the kf account's
-- capacity: WeChat decided already. The kf account's routing view must
-- exist (the caller puts it first).
-- ARGV: [1] prefix [2] account [3] openid [4] agent [5] now ms
-- [6] id for a new session [7] reason [8] idle ms (idle_timeout − warn_before)
-- Returns {outcome, session id}: assigned (a new session, or a waiting
-- one), transferred (from another agent), same (already that agent's).
local account, openid, agent, now = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local key = session_key(account, openid)
local a = hgetall(agent_key(agent))
if not a then return redis.error_reply('no_agent') end
local s = session_get(key)
-- wechat_idle starts the idle clock: kfgate sees neither side of a
-- conversation in WeChat's tool, so the session is idle from now.
local function wechat_idle()
  owe_none(key)
  redis.call('HSET', key, 'warned', '0', 'answered', '1')
  redis.call('HDEL', key, 'waiting_since')
  redis.call('ZADD', P .. 'deadlines', tonumber(now) + tonumber(ARGV[8]), key)
end
if s and s.state == 'serving' and s.agent == agent then
  return {'same', s.id}
end
if not s then
  s = {id = ARGV[6], account = account, openid = openid, skill = '', state = 'waiting', agent = ''}
  redis.call('HSET', key, 'id', s.id, 'state', 'waiting', 'created', now, 'updated', now, 'idle_ms', ARGV[8])
  sid_set(s.id, account, openid)
  count_move('state', nil, 'waiting')
  local cap = give(key, s, a, now, ARGV[8])
  wechat_idle()
  emit('session.assigned', s, now, 'wechat', ARGV[7], cap, {context = context_json(account, openid)})
  return {'assigned', s.id}
end
if s.state == 'serving' then
  local from = s.agent
  release(s)
  local cap = give(key, s, a, now, ARGV[8])
  redis.call('HINCRBY', key, 'transfers', 1)
  wechat_idle()
  emit('session.transferred', s, now, 'wechat', ARGV[7], {from_agent = from, load = cap.load, max = cap.max},
    {context = context_json(account, openid)})
  return {'transferred', s.id}
end
-- waiting or transferring: off the queue, to the kf account
queue_count(account, s.skill, -queue_remove(queue_key(account, s.skill or ''), openid))
local was, from = s.state, s.from_agent or ''
local cap = give(key, s, a, now, ARGV[8])
redis.call('HDEL', key, 'from_agent')
wechat_idle()
if was == 'transferring' then
  emit('session.transferred', s, now, 'wechat', ARGV[7], {from_agent = from, load = cap.load, max = cap.max},
    {context = context_json(account, openid)})
  return {'transferred', s.id}
end
emit('session.assigned', s, now, 'wechat', ARGV[7], cap, {context = context_json(account, openid)})
return {'assigned', s.id}
