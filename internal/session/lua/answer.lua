-- A user clicked a choice of a satisfaction survey (a text message with
-- bizmsgmenuid): record it against the session the survey was sent for. The
-- archive keeps it as a transition whose reason is "<choice id> <text>".
-- ARGV: [1] prefix [2] account [3] openid [4] choice id [5] choice text [6] now ms
-- Returns the session id, or "" when no survey of this user is open.
local key = P .. 'survey:' .. ARGV[2] .. ':' .. ARGV[3]
local sid = redis.call('GET', key)
if not sid then return '' end
redis.call('DEL', key)
local s = {id = sid, account = ARGV[2], openid = ARGV[3], state = 'closed', agent = ''}
emit('survey.answered', s, ARGV[6], 'user', ARGV[4] .. ' ' .. ARGV[5], {choice = ARGV[4], answer = ARGV[5]})
return sid
