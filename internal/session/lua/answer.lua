-- A user clicked a choice of a satisfaction survey (a text message with
-- bizmsgmenuid): record it against the session the survey was sent for. The
-- archive keeps it as a transition whose reason is "<choice id> <text>".
-- The answer also rates the agent who served the session: its score is the
-- average of its last [8] answers (<prefix>ratings:<agent>, best choice 5,
-- worst 1), kept in the agent's hash as "rating" for routing. The lowest
-- choice flags the session for the supervisors (session.flagged, to no
-- agent: the admins' sockets read it from the events stream).
-- ARGV: [1] prefix [2] account [3] openid [4] choice id [5] choice text [6] now ms
-- [7] the choice's score 1–5 ("" = not a known choice) [8] rating window
-- [9] "1": the lowest choice
-- Returns the session id, or "" when no survey of this user is open.
local key = P .. 'survey:' .. ARGV[2] .. ':' .. ARGV[3]
local sid = redis.call('GET', key)
if not sid then return '' end
local akey = P .. 'survey_agent:' .. ARGV[2] .. ':' .. ARGV[3]
local agent = redis.call('GET', akey) or ''
redis.call('DEL', key, akey)
local s = {id = sid, account = ARGV[2], openid = ARGV[3], state = 'closed', agent = ''}
local extra = {choice = ARGV[4], answer = ARGV[5]}
if agent ~= '' then extra.served_by = agent end
emit('survey.answered', s, ARGV[6], 'user', ARGV[4] .. ' ' .. ARGV[5], extra)
if agent ~= '' and ARGV[7] ~= '' and redis.call('EXISTS', agent_key(agent)) == 1 then
  local rk = P .. 'ratings:' .. agent
  redis.call('LPUSH', rk, ARGV[7])
  redis.call('LTRIM', rk, 0, tonumber(ARGV[8]) - 1)
  local sum, n = 0, 0
  for _, v in ipairs(redis.call('LRANGE', rk, 0, -1)) do sum, n = sum + tonumber(v), n + 1 end
  redis.call('HSET', agent_key(agent), 'rating', string.format('%.2f', sum / n), 'ratings', n)
end
if ARGV[9] == '1' then
  redis.call('HINCRBY', P .. 'counts', 'flagged', 1)
  emit('session.flagged', s, ARGV[6], 'user', 'lowest survey answer', extra)
end
return sid
