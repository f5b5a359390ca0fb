-- Claim the sessions one agent has served since before a cutoff, for the
-- transfer-after rule: each is claimed once across replicas; the caller
-- transfers it or hands it back with Served.
-- ARGV: [1] prefix [2] cutoff ms [3] limit [4] the set: "served" (the
-- transfer-after rule) or "overdue_moves" (overdue_transfer_after)
-- Returns a flat list: account, openid, agent, skill, …
local set = P .. (ARGV[4] or 'served')
local due = redis.call('ZRANGEBYSCORE', set, '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, key in ipairs(due) do
  redis.call('ZREM', set, key)
  local s = session_get(key)
  if s and s.state == 'serving' then
    for _, v in ipairs({s.account, s.openid, s.agent, s.skill or ''}) do out[#out + 1] = v end
  end
end
return out
