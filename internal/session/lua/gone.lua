-- Claim the agents that went offline before a cutoff and are still
-- offline, for the reassign job: each is claimed once across replicas; the
-- caller hands their users on. An agent back meanwhile was taken out of
-- <prefix>gone (came_back in common.lua); "away" never enters it.
-- ARGV: [1] prefix [2] cutoff ms [3] limit
-- Returns the agent ids.
local due = redis.call('ZRANGEBYSCORE', P .. 'gone', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'gone', id)
  if redis.call('HGET', agent_key(id), 'status') == 'offline' then out[#out + 1] = id end
end
return out
