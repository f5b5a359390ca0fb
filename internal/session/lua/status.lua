-- Set an agent's status as the agent chose it. An agent that is not
-- offline must keep showing signs of life (heartbeats, its WebSocket), or
-- the presence sweep takes it offline.
-- ARGV: [1] prefix [2] id [3] status [4] now ms
-- Returns the previous status, or an error reply "no_agent".
local k = agent_key(ARGV[2])
local old = redis.call('HGET', k, 'status')
if not old then return redis.error_reply('no_agent') end
redis.call('HSET', k, 'status', ARGV[3], 'wanted', ARGV[3], 'seen', ARGV[4])
count_move('agents', old, ARGV[3])
if ARGV[3] == 'offline' then
  redis.call('ZREM', P .. 'presence', ARGV[2])
  if old ~= 'offline' then went_offline(ARGV[2], ARGV[4]) end
else
  redis.call('ZADD', P .. 'presence', ARGV[4], ARGV[2])
  came_back(ARGV[2])
end
return old
