-- Rebuild <prefix>counts from the live index, the queues and the agents,
-- once: for a Redis whose sessions predate the counts, or whose counts
-- were lost. Cost O(live sessions + agents), and one SCAN for the queues'
-- keys (a queued session is in no index but its queue); atomic, so the
-- scripts' increments go on from exact values.
-- ARGV: [1] prefix. Returns 1 if it rebuilt, 0 if the counts were there.
local ck = P .. 'counts'
-- v 2: waiting sessions are not counted, queues are counted by skill.
if redis.call('HGET', ck, 'v') == '2' then return 0 end
-- Only the fields kept here: others (flagged, overdue, …) are counters
-- of their own.
for _, f in ipairs(redis.call('HKEYS', ck)) do
  if string.find(f, '^state:') or string.find(f, '^queue:') or string.find(f, '^agents:') then redis.call('HDEL', ck, f) end
end
-- The served, from the live index (an earlier version's index holds the
-- queued sessions too: they are counted from their queues).
for _, key in ipairs(redis.call('ZRANGE', P .. 'live', 0, -1)) do
  if redis.call('HGET', key, 'state') == 'serving' then count_move('state', nil, 'serving') end
end
-- The queued: every queue's length, and its transferring sessions.
local pattern = string.gsub(P, '[%*%?%[%]\\]', '\\%0') .. 'queue:*'
local cursor = '0'
repeat
  local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
  cursor = r[1]
  for _, q in ipairs(r[2]) do
    local acct, skill = string.match(string.sub(q, #P + 7), '^([^:]*):(.*)$')
    if acct then
      local members = queue_call('ZRANGE', q, 0, -1)
      queue_count(acct, skill, #members)
      for _, openid in ipairs(members) do
        if redis.call('HGET', session_key(acct, openid), 'state') == 'transferring' then
          count_move('state', nil, 'transferring')
        end
      end
    end
  end
until cursor == '0'
for _, id in ipairs(redis.call('SMEMBERS', P .. 'agents')) do
  local st = redis.call('HGET', agent_key(id), 'status')
  if st then count('agents:' .. st, 1) end
end
redis.call('HSET', ck, 'v', '2')
return 1
