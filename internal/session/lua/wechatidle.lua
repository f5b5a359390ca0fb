-- A session served in WeChat's customer-service tool: kfgate sees neither
-- side of the conversation there, so its idle clock runs from now (the
-- hand-over, or a message that reached kfgate anyway), and nobody owes
-- an answer kfgate could measure.
-- ARGV: [1] prefix [2] account [3] openid [4] now ms [5] idle ms
-- Returns 1, or 0 when the user has no serving session.
local key = session_key(ARGV[2], ARGV[3])
if redis.call('HGET', key, 'state') ~= 'serving' then return 0 end
owe_none(key)
redis.call('HSET', key, 'warned', '0', 'answered', '1')
redis.call('HDEL', key, 'waiting_since')
redis.call('ZADD', P .. 'deadlines', tonumber(ARGV[4]) + tonumber(ARGV[5]), key)
return 1
