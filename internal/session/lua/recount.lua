-- Rebuild <prefix>counts from the live index, the queues of the live
-- sessions and the agents, once: for a Redis whose sessions predate the
-- counts. Cost O(live sessions + agents), never a scan of the keyspace;
-- atomic, so the scripts' increments go on from exact values.
-- ARGV: [1] prefix. Returns 1 if it rebuilt, 0 if the counts were there.
local ck = P .. 'counts'
-- v 2: waiting sessions are not counted, queues are counted by skill.
if redis.call('HGET', ck, 'v') == '2' then return 0 end
-- Only the fields kept here: others (flagged, overdue, …) are counters
-- of their own.
for _, f in ipairs(redis.call('HKEYS', ck)) do
  if string.find(f, '^state:') or string.find(f, '^queue:') or string.find(f, '^agents:') then redis.call('HDEL', ck, f) end
end
local queues = {}
for _, key in ipairs(redis.call('ZRANGE', P .. 'live', 0, -1)) do
  local f = redis.call('HMGET', key, 'state', 'skill')
  local acct = session_user(key)
  if f[1] then
    count_move('state', nil, f[1])
    if f[1] == 'waiting' or f[1] == 'transferring' then queues[queue_key(acct, f[2] or '')] = {acct, f[2] or ''} end
  end
end
for q, as in pairs(queues) do queue_count(as[1], as[2], queue_len(q)) end
for _, id in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
  local st = redis.call('HGET', agent_key(id), 'status')
  if st then count('agents:' .. st, 1) end
end
redis.call('HSET', ck, 'v', '2')
return 1
