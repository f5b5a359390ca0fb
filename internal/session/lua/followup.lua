-- An agent writes to a user who has no live session (a follow-up after the
-- session closed): a new session opens, served by that agent, if WeChat's
-- window for the user is still open.
-- ARGV: [1] prefix [2] account [3] openid [4] now ms [5] id for the new
-- session [6] agent [7] idle ms [8] warn-before ms
-- Returns {outcome, session id, state, agent}; outcome is opened (a new
-- session), existing (the agent serves the user already), busy (the user
-- has a live session with someone else, or waits), window_closed (no reply
-- is possible: WeChat would answer 45015), no_agent (unknown agent, or not
-- one of the account) or full (the agent is at max_sessions).
local account, openid, now, agent = ARGV[2], ARGV[3], ARGV[4], ARGV[6]
local key = session_key(account, openid)
local s = session_get(key)
if s then
  if s.state == 'serving' and s.agent == agent then return {'existing', s.id, s.state, s.agent} end
  return {'busy', s.id, s.state, s.agent or ''}
end
local till = tonumber(redis.call('HGET', P .. 'quota:' .. account .. ':' .. openid, 'until') or '0')
if till < tonumber(now) then return {'window_closed', '', '', ''} end
local a = hgetall(agent_key(agent))
if not a or not has(a.accounts, account) then return {'no_agent', '', '', ''} end
if tonumber(a.load) >= tonumber(a.max) then return {'full', '', '', ''} end
s = {id = ARGV[5], account = account, openid = openid, skill = '', state = 'waiting', agent = ''}
redis.call('HSET', key, 'id', s.id, 'state', 'waiting', 'created', now, 'updated', now,
  'idle_ms', tonumber(ARGV[7]) - tonumber(ARGV[8]))
count_move('state', nil, 'waiting')
sid_set(s.id, account, openid)
local cap = give(key, s, a, now)
redis.call('ZADD', P .. 'deadlines', tonumber(now) + tonumber(ARGV[7]) - tonumber(ARGV[8]), key)
emit('session.assigned', s, now, 'agent:' .. agent, 'follow_up', cap)
return {'opened', s.id, 'serving', agent}
