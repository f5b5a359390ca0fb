-- An agent's answer of session [4] reached WeChat: if it is the session's
-- first, mark it and return the time since the session opened (ms), else -1.
-- ARGV: [1] prefix [2] account [3] openid [4] session id [5] now ms
local key = session_key(ARGV[2], ARGV[3])
local f = redis.call('HMGET', key, 'id', 'created')
if f[1] ~= ARGV[4] or not f[2] then return -1 end
if redis.call('HSETNX', key, 'first_reply', ARGV[5]) == 0 then return -1 end
return math.max(tonumber(ARGV[5]) - tonumber(f[2]), 0)
