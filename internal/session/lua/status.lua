-- Set an agent's status. ARGV: [1] prefix [2] id [3] status [4] now ms
-- Returns the previous status, or an error reply "no_agent".
local k = agent_key(ARGV[2])
local old = redis.call('HGET', k, 'status')
if not old then return redis.error_reply('no_agent') end
redis.call('HSET', k, 'status', ARGV[3], 'seen', ARGV[4])
return old
