-- Create or update an agent's routing view, keeping its load.
-- ARGV: [1] prefix [2] id [3] name [4] accounts ",a,b," [5] skills ",x,"
-- [6] weight [7] max sessions [8] status ("" = keep) [9] now ms
local id = ARGV[2]
local k = agent_key(id)
local old = hgetall(k)
if old then
  for acct in string.gmatch(old.accounts or '', '[^,]+') do
    redis.call('SREM', P .. 'account:' .. acct .. ':agents', id)
  end
end
local status = ARGV[8]
if status == '' then
  status = (old and old.status) or 'offline'
else
  redis.call('HSET', k, 'wanted', status)
  if status == 'offline' then
    redis.call('ZREM', P .. 'presence', id)
    if old and old.status ~= 'offline' then went_offline(id, ARGV[9]) end
  else
    redis.call('ZADD', P .. 'presence', ARGV[9], id)
    came_back(id)
  end
end
count_move('agents', old and old.status, status)
redis.call('HSET', k, 'id', id, 'name', ARGV[3], 'accounts', ARGV[4], 'skills', ARGV[5],
  'weight', ARGV[6], 'max', ARGV[7], 'status', status, 'seen', ARGV[9])
if not old then redis.call('HSET', k, 'load', 0, 'last_assigned', 0) end
for acct in string.gmatch(ARGV[4], '[^,]+') do
  redis.call('SADD', P .. 'account:' .. acct .. ':agents', id)
end
redis.call('SADD', P .. 'agents', id)
return status
