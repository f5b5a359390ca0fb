-- The load of a kf account's routing view from WeChat's accepted_case
-- (getonlinekflist): WeChat counts the sessions opened in its tool too,
-- which kfgate may not know of. The load is never below the sessions
-- kfgate gave the account, so that releasing them cannot go negative.
-- ARGV: [1] prefix [2] agent [3] accepted_case
-- Returns the load set, or -1 when the agent does not exist.
local k = agent_key(ARGV[2])
if redis.call('EXISTS', k) == 0 then return -1 end
local load = math.max(redis.call('SCARD', k .. ':sessions'), tonumber(ARGV[3]))
redis.call('HSET', k, 'load', load)
return load
