-- Close a live session, whatever its state.
-- ARGV: [1] prefix [2] account [3] openid [4] actor [5] reason [6] now ms
-- [7] return window ms [8] closing notice ("" = none) [9] reserved units
-- [10] session id that must match ("" = any) [11] survey msgmenu JSON
-- ("" = none) [12] how long the survey is open, ms
-- Returns {agent freed or "", session id, its duration in ms}, or an error reply "no_session".
local account, openid, now = ARGV[2], ARGV[3], ARGV[6]
local key = session_key(account, openid)
local s = session_get(key)
if not s or (ARGV[10] ~= '' and s.id ~= ARGV[10]) then return redis.error_reply('no_session') end
local freed = ''
if s.state == 'serving' then
  release(s)
  freed = s.agent
  redis.call('SET', P .. 'last:' .. account .. ':' .. openid, s.agent, 'PX', tonumber(ARGV[7]))
else
  queue_count(account, s.skill, -queue_remove(queue_key(account, s.skill or ''), openid))
end
count_move('state', s.state, nil)
quota_keep(s, now)
redis.call('DEL', key, context_key(account, openid))
sid_del(s.id)
redis.call('ZREM', P .. 'deadlines', key)
owe_none(key)
live_remove(key)
s.state = 'closed'
emit('session.closed', s, now, ARGV[4], ARGV[5], {})
notice(account, openid, s.id, ARGV[8], tonumber(ARGV[9]), now)
survey(account, openid, s.id, ARGV[11], tonumber(ARGV[12]), now, s.agent)
return {freed, s.id, tostring(tonumber(now) - tonumber(s.created or now))}
