-- The waiting users of some queues: a better place is told (within the
-- reply quota, never spending the units the agent will need), and a wait
-- past the queue timeout ends — closed, or kept as a message for the next
-- agent. Each change is one atomic step, so replicas running the job at
-- once tell nobody twice. Only the first ARGV[8] users of each queue are
-- looked at, so that a run costs the same whatever the queue's length:
-- the users further back are told their place, and time out, once they
-- come that near the head (in a queue of closes, the head moves on; the
-- users who wait first time out first).
-- ARGV: [1] prefix [2] now ms [3] places (0 = off) [4] every ms (0 = off)
-- [5] queue timeout ms (0 = never) [6] "1": leave-a-message mode
-- [7] reserved reply units for place updates [8] users looked at per
-- queue, then per queue 6 values: account, skill, update text, next text,
-- timeout text, leave text
-- Returns a flat list: kind ("update" | "timeout" | "leave"), account, openid, …
local now = tonumber(ARGV[2])
local places, every, timeout = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local reserve = tonumber(ARGV[7])
local window = tonumber(ARGV[8])
local out = {}
for i = 9, #ARGV, 6 do
  local account, skill = ARGV[i], ARGV[i + 1]
  local q = queue_key(account, skill)
  local pos = 0
  for _, openid in ipairs(queue_call('ZRANGE', q, 0, window - 1)) do
    local key = session_key(account, openid)
    local s = session_get(key)
    local gone = false
    if s and s.state == 'waiting' then
      pos = pos + 1
      local since = tonumber(s.queued_at or s.created or now)
      if timeout > 0 and s.leave ~= '1' and now - since >= timeout then
        if ARGV[6] == '1' then
          redis.call('HSET', key, 'leave', '1')
          notice(account, openid, s.id, ARGV[i + 5], 0, now)
          for _, v in ipairs({'leave', account, openid}) do out[#out + 1] = v end
        else
          queue_count(account, skill, -queue_remove(q, openid))
          count_move('state', s.state, nil)
          quota_keep(s, now)
          redis.call('DEL', key, context_key(account, openid))
          sid_del(s.id)
          redis.call('ZREM', P .. 'deadlines', key)
          owe_none(key)
          live_remove(key)
          s.state = 'closed'
          emit('session.closed', s, now, 'scheduler', 'queue timeout', {})
          notice(account, openid, s.id, ARGV[i + 4], 0, now)
          for _, v in ipairs({'timeout', account, openid}) do out[#out + 1] = v end
          pos = pos - 1
          gone = true
        end
      end
      local told = tonumber(s.told_pos or '0')
      -- told_at absent: told when it joined (a new session's queued_at,
      -- absent too: when it opened; see inbound.lua)
      local told_at = tonumber(s.told_at or s.queued_at or s.created or '0')
      if not gone and s.leave ~= '1' and told > 0 and pos < told
        and ((places > 0 and told - pos >= places) or (every > 0 and now - told_at >= every)) then
        local text = ARGV[i + 2]
        if pos == 1 and ARGV[i + 3] ~= '' then text = ARGV[i + 3] end
        if notice(account, openid, s.id, fill(text, {ahead = pos - 1, position = pos}), reserve, now) then
          redis.call('HSET', key, 'told_pos', pos, 'told_at', now)
          for _, v in ipairs({'update', account, openid}) do out[#out + 1] = v end
        end
      end
    elseif s and s.state == 'transferring' then
      pos = pos + 1
    end
  end
  -- The queue's count (a new user's place, the metrics) set to what the
  -- queue holds: exact after every script, so this changes nothing unless
  -- something else drifted it (a hand edit of Redis), which heals here.
  redis.call('HSET', P .. 'counts', 'queue:' .. account .. ':' .. skill, queue_len(q))
end
return out
