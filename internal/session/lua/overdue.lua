-- The reply SLA: claim the sessions whose agent has owed the user an
-- answer since before a cutoff (see owe in common.lua), mark them overdue
-- and tell the agent and the supervisors (the events stream), once per
-- unanswered message however many replicas run the job.
-- ARGV: [1] prefix [2] now ms [3] cutoff for a first answer ms ("" = no
-- limit) [4] cutoff for a later answer ms ("" = no limit) [5] limit
-- [6] overdue_transfer_after ms (0 = never)
-- Returns a flat list: account, openid, agent, "first" | "next", …
local now = tonumber(ARGV[2])
local out = {}
for _, which in ipairs({'first', 'next'}) do
  local cutoff = ARGV[3]
  if which == 'next' then cutoff = ARGV[4] end
  if cutoff ~= '' then
    local due = redis.call('ZRANGEBYSCORE', P .. 'owe:' .. which, '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[5]))
    for i = 1, #due, 2 do
      local key, since = due[i], tonumber(due[i + 1])
      redis.call('ZREM', P .. 'owe:' .. which, key)
      local s = session_get(key)
      if s and s.state == 'serving' and s.overdue ~= '1' then
        redis.call('HSET', key, 'overdue', '1')
        redis.call('HINCRBY', P .. 'counts', 'overdue', 1)
        emit('session.overdue', s, now, 'scheduler', 'reply_sla', {sla = which, since = since})
        if tonumber(ARGV[6]) > 0 then
          redis.call('ZADD', P .. 'overdue_moves', now + tonumber(ARGV[6]), key)
        end
        for _, v in ipairs({s.account, s.openid, s.agent, which}) do out[#out + 1] = v end
      end
    end
  end
end
return out
