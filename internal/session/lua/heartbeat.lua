-- An agent shows it is there. An agent the sweep took offline gets back
-- the status it chose; one that chose offline stays offline.
-- ARGV: [1] prefix [2] id [3] now ms
-- Returns {previous status, status now}, or an error reply "no_agent".
local k = agent_key(ARGV[2])
local a = hgetall(k)
if not a then return redis.error_reply('no_agent') end
local wanted = a.wanted or a.status
if wanted == 'offline' then return {a.status, a.status} end
redis.call('HSET', k, 'status', wanted, 'seen', ARGV[3])
count_move('agents', a.status, wanted)
redis.call('ZADD', P .. 'presence', ARGV[3], ARGV[2])
came_back(ARGV[2])
return {a.status, wanted}
