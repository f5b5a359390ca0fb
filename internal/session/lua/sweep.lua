-- Take offline the agents silent since before a cutoff: each is claimed
-- once however many replicas sweep; the cost grows with the number due.
-- ARGV: [1] prefix [2] cutoff ms [3] limit
-- Returns the ids taken offline.
local due = redis.call('ZRANGEBYSCORE', P .. 'presence', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'presence', id)
  count_move('agents', redis.call('HGET', agent_key(id), 'status'), 'offline')
  redis.call('HSET', agent_key(id), 'status', 'offline')
  went_offline(id, ARGV[2])
end
return due
