-- Shared by every session script (prepended to each). ARGV[1] is the key
-- prefix; the scripts compute the keys they touch, so kfgate needs one
-- Redis (not a cluster) or keys that hash to one slot.
local P = ARGV[1]

local function hgetall(key)
  local r = redis.call('HGETALL', key)
  if #r == 0 then return nil end
  local t = {}
  for i = 1, #r, 2 do t[r[i]] = r[i + 1] end
  return t
end

local function session_key(account, openid) return P .. 'sess:' .. account .. ':' .. openid end

-- A session's hash keeps neither account nor openid: its key has them
-- (an appid holds no ':'). session_user reads them from the key;
-- session_get reads the hash and adds them (nil: no session). A hash an
-- earlier version wrote has them as fields, the same.
local function session_user(key)
  return string.match(string.sub(key, #P + 6), '^([^:]*):(.*)$')
end

local function session_get(key)
  local s = hgetall(key)
  if s and not s.account then s.account, s.openid = session_user(key) end
  return s
end
local function agent_key(id) return P .. 'agent:' .. id end
local function queue_key(account, skill) return P .. 'queue:' .. account .. ':' .. skill end
local function context_key(account, openid) return P .. 'ctx:' .. account .. ':' .. openid end

-- Finding a session by its id: <prefix>sids:<the id's first 3 characters>
-- is a hash of id → "<account>:<openid>". kfgate's ids are random hex, so
-- the 4,096 buckets stay small enough for Redis's compact encoding up to
-- about 2 million live sessions: far less memory than a key per session.
-- Earlier versions kept <prefix>sid:<id> (the session's key): read still,
-- deleted with the session.
local function sid_key(id) return P .. 'sids:' .. string.sub(id, 1, 3) end
local function sid_set(id, account, openid) redis.call('HSET', sid_key(id), id, account .. ':' .. openid) end
local function sid_del(id)
  redis.call('HDEL', sid_key(id), id)
  redis.call('DEL', P .. 'sid:' .. id)
end

-- The queues. <prefix>queue:<account>:<skill> is a sorted set of the
-- waiting users' OpenIDs scored by arrival (queue_score), or minus that
-- for a transfer to the front, so a user's place is one ZRANK (O(log n))
-- and the head one ZRANGE 0 0. Earlier versions kept a list there: the
-- first script to touch such a queue converts it, in order, in the same
-- atomic step (queue_call), so an upgrade needs no downtime step and
-- costs nothing once converted; the converted users, and those an earlier
-- version queued (scored by the counter <prefix>qseq), stay ahead of the
-- users queued since, as they came first.
local function queue_upgrade(q)
  local items = redis.call('LRANGE', q, 0, -1)
  redis.call('DEL', q)
  for _, openid in ipairs(items) do
    redis.call('ZADD', q, 'NX', redis.call('INCR', P .. 'qseq'), openid)
  end
end

-- queue_call runs a sorted-set command on queue q, converting q first if
-- it is an earlier version's list.
local function queue_call(cmd, q, ...)
  local r = redis.pcall(cmd, q, ...)
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'WRONGTYPE', 1, true) then error(r.err) end
    queue_upgrade(q)
    r = redis.call(cmd, q, ...)
  end
  return r
end

local function queue_len(q) return queue_call('ZCARD', q) end

-- queue_pos returns the user's place in queue q (1 = next), 0 if not in it.
local function queue_pos(q, openid)
  local r = queue_call('ZRANK', q, openid)
  if r then return r + 1 end
  return 0
end

-- queue_score is the arrival score of a user joining a queue: with id,
-- the id of the event the joining appended to the events stream
-- ("<ms>-<seq>", emit's answer), which grows with every script run, so the
-- users who queue are in the order their scripts ran, exactly, across
-- replicas; without, now (Unix ms, an integer string; a transfer) with
-- three digits more, in order to the millisecond. No counter to increment:
-- one command less per new user.
local function queue_score(now, id)
  local ms, seq = string.match(id or '', '^(%d+)%-(%d+)$')
  if not ms then return now .. '999' end
  if #seq > 3 then seq = '999' end
  return ms .. string.rep('0', 3 - #seq) .. seq
end

-- queue_add puts the user at the end of queue q, with score (queue_score),
-- or at the front with front; it returns 1 if the user was not in it yet,
-- else 0 (the place is kept).
local function queue_add(q, openid, front, score)
  if front then score = '-' .. score end
  local added = queue_call('ZADD', q, 'NX', score, openid)
  if front and added == 0 then queue_call('ZADD', q, 'XX', score, openid) end -- a front move wins
  return added
end

-- queue_head returns the first user of queue q, nil when it is empty.
local function queue_head(q)
  return queue_call('ZRANGE', q, 0, 0)[1]
end

-- queue_remove takes the user out of queue q; it returns 1 if it was there.
local function queue_remove(q, openid) return queue_call('ZREM', q, openid) end

-- queue_all returns every user of queue q, first first: O(n), for the
-- admin's view of a queue only, never per message.
local function queue_all(q) return queue_call('ZRANGE', q, 0, -1) end

-- Lists are stored as ",a,b," so that membership is one plain find.
local function has(list, item)
  return item == '' or string.find(list or '', ',' .. item .. ',', 1, true) ~= nil
end

-- can_take reports whether agent a may get a new session of account/skill.
local function can_take(a, account, skill, exclude)
  return a ~= nil and a.status == 'online' and a.id ~= exclude
    and tonumber(a.load) < tonumber(a.max)
    and has(a.accounts, account) and has(a.skills, skill)
end

-- emit records a transition and returns the id of its entry in the events
-- stream: an entry in the events stream (for the
-- archive, the media downloads and the admins' WebSockets, which every
-- replica holding one reads from the stream) and a message on the agent's
-- channel (for the agent, whichever replica holds its WebSocket). All in script order, so in order per session. raw, if
-- given, maps field names to values that are JSON already (a message, a
-- context list): they are spliced into the event as they are, so that
-- their numbers and empty lists survive (cjson would turn [] into {}).
local function emit(typ, s, now, actor, reason, extra, raw)
  local ev = {type = typ, session = s.id, account = s.account, openid = s.openid, state = s.state, skill = s.skill or "",
    agent = s.agent or '', actor = actor, reason = reason}
  if extra then
    for k, v in pairs(extra) do ev[k] = v end
  end
  -- at (Unix ms, an integer) is spliced as the script has it: cheaper than
  -- converting it to a number and cjson formatting it back.
  local parts = {'"at":' .. now}
  if raw then
    for k, v in pairs(raw) do parts[#parts + 1] = cjson.encode(k) .. ':' .. v end
    table.sort(parts) -- a stable field order, whatever the table's
  end
  local body = cjson.encode(ev)
  body = string.sub(body, 1, -2) .. ',' .. table.concat(parts, ',') .. '}'
  local id = redis.call('XADD', P .. 'events', '*', 'type', typ, 'session', s.id, 'event', body)
  for _, who in ipairs({s.agent or '', (extra or {}).from_agent or ''}) do
    if who ~= '' then redis.call('PUBLISH', P .. 'agent:' .. who .. ':events', body) end
  end
  return id
end

-- The live index: the key of every session an agent serves in the sorted
-- set <prefix>live, scored by its last activity (Unix ms), so that the
-- live list reads a page without scanning the keyspace. A queued session
-- (waiting, transferring) is not in it: its queue lists it already, in
-- the order of arrival, and the live list reads the queues for those
-- (live.lua), which spares a surge's waiting users an entry each and
-- their messages a ZADD each. give puts a session in; the scripts that
-- queue or delete one take it out.
local function live_touch(key, now)
  redis.call('ZADD', P .. 'live', tonumber(now), key)
end

local function live_remove(key)
  redis.call('ZREM', P .. 'live', key)
end

-- The counts: <prefix>counts is a hash kept by the scripts as they change
-- things, so that the metrics read it in one HGETALL whatever the size of
-- the keyspace (internal/session/counts.go): state:<state> sessions by
-- state, queue:<account>:<skill> users queued, agents:<status> agents by
-- status. Waiting sessions have no count of their own: each is in its
-- queue, which also holds the transferring ones, so the queues' counts
-- less state:transferring are their number (counts.go). A new user costs
-- one count less, and the queue's count is the user's place.
local function count(field, n)
  if n ~= 0 then redis.call('HINCRBY', P .. 'counts', field, n) end
end

-- count_move moves one item from kind:old to kind:new (nil = none).
local function count_move(kind, old, new)
  if old == new then return end
  if kind == 'state' then
    if old == 'waiting' then old = nil end
    if new == 'waiting' then new = nil end
  end
  if old and old ~= '' then count(kind .. ':' .. old, -1) end
  if new and new ~= '' then count(kind .. ':' .. new, 1) end
end

-- queue_count adds n to the count of the (account, skill) queue and
-- returns the count (nil when n is 0).
local function queue_count(account, skill, n)
  if n == 0 then return nil end
  return redis.call('HINCRBY', P .. 'counts', 'queue:' .. account .. ':' .. (skill or ''), n)
end

-- context_json returns the user's context list as one JSON array.
local function context_json(account, openid)
  return '[' .. table.concat(redis.call('LRANGE', context_key(account, openid), 0, -1), ',') .. ']'
end

-- Whose turn it is. While the agent owes the user an answer (the user
-- wrote last), the session is in <prefix>owe:first (no answer yet from this
-- agent) or <prefix>owe:next, scored by since when: the reply-SLA job finds
-- the overdue ones there. While the user owes the reply (the agent wrote
-- last), it is in <prefix>deadlines for the idle warning and close; the
-- outbox's script puts it there when an agent's message is queued (see
-- internal/outbox/lua/common.lua). A waiting user is in neither.
local function owe(key, now)
  redis.call('ZREM', P .. 'deadlines', key)
  if redis.call('ZSCORE', P .. 'owe:first', key) or redis.call('ZSCORE', P .. 'owe:next', key)
    or redis.call('HGET', key, 'overdue') == '1' then
    return
  end
  local which = 'owe:first'
  if redis.call('HGET', key, 'answered') == '1' then which = 'owe:next' end
  redis.call('ZADD', P .. which, tonumber(now), key)
end

local function owe_none(key)
  redis.call('ZREM', P .. 'owe:first', key)
  redis.call('ZREM', P .. 'owe:next', key)
  redis.call('ZREM', P .. 'overdue_moves', key)
end

-- Agents gone offline wait in <prefix>gone, scored by when, until they
-- come back or the reassign job hands their users on.
local function went_offline(id, now) redis.call('ZADD', P .. 'gone', tonumber(now), id) end
local function came_back(id) redis.call('ZREM', P .. 'gone', id) end

-- fill replaces {name} placeholders in text.
local function fill(text, vars)
  return (string.gsub(text, '{(%w+)}', function(k)
    if vars[k] ~= nil then return tostring(vars[k]) end
  end))
end

-- give assigns session s (already in Redis as key) to agent a.
-- It returns the fields that show the assignment kept the agent within
-- its capacity, for the event. idle, if given, is the session's idle_ms
-- (idle_timeout - warn_before, the outbox's due time for the user's reply
-- once the agent wrote): a session that was queued when it opened has
-- none yet, as only a served session needs it. s.fresh marks a session
-- the caller has just written: it has nothing to clear (no queued_at,
-- overdue or leave; in no owe set; no unanswered message yet).
local function give(key, s, a, now, idle)
  s.agent = a.id
  count_move('state', s.state, 'serving')
  s.state = 'serving'
  -- A new agent's first answer is due (answered 0): the user's unanswered
  -- message, if any, is its due.
  local set = {'state', 'serving', 'agent', a.id, 'updated', now, 'answered', '0'}
  if idle and idle ~= '' then
    set[#set + 1] = 'idle_ms'
    set[#set + 1] = idle
  end
  redis.call('HSET', key, unpack(set))
  if not s.fresh then redis.call('HDEL', key, 'queued_at', 'overdue', 'leave') end
  live_touch(key, now)
  s.indexed = true -- for inbound.lua's remember, which would touch it again
  local load = redis.call('HINCRBY', agent_key(a.id), 'load', 1)
  redis.call('HSET', agent_key(a.id), 'last_assigned', now)
  redis.call('SADD', agent_key(a.id) .. ':sessions', s.account .. ':' .. s.openid)
  redis.call('ZADD', P .. 'served', now, key) -- for the transfer-after rule
  s.answered, s.overdue, s.leave = '0', nil, nil
  if not s.fresh then
    owe_none(key)
    if redis.call('HEXISTS', key, 'waiting_since') == 1 then owe(key, now) end
  end
  return {load = load, max = tonumber(a.max)}
end

-- release takes session s off its agent.
local function release(s)
  if s.agent ~= nil and s.agent ~= '' then
    redis.call('HINCRBY', agent_key(s.agent), 'load', -1)
    redis.call('SREM', agent_key(s.agent) .. ':sessions', s.account .. ':' .. s.openid)
    redis.call('ZREM', P .. 'served', session_key(s.account, s.openid))
  end
  owe_none(session_key(s.account, s.openid))
end

-- any_agent_can_take reports whether some agent of the account could take
-- a session with this skill now (checked when a user is about to queue, so
-- that nobody waits while an agent is free).
local function any_agent_can_take(account, skill)
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'account:' .. account .. ':agents')) do
    if can_take(hgetall(agent_key(id)), account, skill, '') then return true end
  end
  return false
end

-- kfgate's view of WeChat's reply window for a user (docs/wechat.md, "The
-- 48-hour window and reply quota"): the sends left and until when (ms).
-- While the user has a live session it is in the session's hash (qleft,
-- quntil: no key of its own); otherwise, and for a session an earlier
-- version opened until its next grant, in <prefix>quota:<account>:<openid>
-- (left, until), which expires with the window. quota_of returns left,
-- until, and the hash and field that hold the units left.
local function quota_of(account, openid)
  local sk = session_key(account, openid)
  local q = redis.call('HMGET', sk, 'qleft', 'quntil')
  if q[2] then return tonumber(q[1] or '0'), tonumber(q[2]), sk, 'qleft' end
  local qk = P .. 'quota:' .. account .. ':' .. openid
  q = redis.call('HMGET', qk, 'left', 'until')
  return tonumber(q[1] or '0'), tonumber(q[2] or '0'), qk, 'left'
end

-- quota_keep moves the window view out of session s's hash, which is
-- about to be deleted, into <prefix>quota:… while the window is open.
local function quota_keep(s, now)
  local till = tonumber(s.quntil or '0')
  if till < tonumber(now) then return end
  local qk = P .. 'quota:' .. s.account .. ':' .. s.openid
  redis.call('HSET', qk, 'left', s.qleft or '0', 'until', till)
  -- kfgate's clock, not Redis's: the TTL is relative
  redis.call('PEXPIRE', qk, math.max(till - tonumber(now), 1))
end

-- notice appends an automatic message for the user to the outbox, unless
-- it would spend the reply units the agent's greeting and first answer
-- need (WeChat allows a few sends per user message, docs/wechat.md, "Customer-service API").
-- survey sends the satisfaction survey (a msgmenu, docs/wechat.md, "Customer-service API") of a
-- closed session if the user has a reply unit left, and remembers which
-- session the user's click will answer.
local function survey(account, openid, sid, body, ttl, now, agent)
  if body == '' then return end
  local left, till, qk, field = quota_of(account, openid)
  if till < tonumber(now) or left <= 0 then return end
  redis.call('HINCRBY', qk, field, -1)
  redis.call('XADD', P .. 'outbox', '*', 'account', account, 'openid', openid, 'session', sid,
    'kind', 'survey', 'msgtype', 'msgmenu', 'body', body)
  redis.call('SET', P .. 'survey:' .. account .. ':' .. openid, sid, 'PX', ttl)
  redis.call('SET', P .. 'survey_agent:' .. account .. ':' .. openid, agent or '', 'PX', ttl)
end

local function notice(account, openid, sid, text, reserve, now)
  if text == '' then return false end
  local left, till, qk, field = quota_of(account, openid)
  if till < tonumber(now) or left <= reserve then return false end
  redis.call('HINCRBY', qk, field, -1)
  redis.call('XADD', P .. 'outbox', '*', 'account', account, 'openid', openid, 'session', sid,
    'kind', 'notice', 'msgtype', 'text', 'content', text)
  return true
end

-- greet sends the greeting of an assignment ({agent} = the agent's name);
-- it may spend all but the last reply unit, kept for the agent's answer.
local function greet(s, a, text, reserve, now)
  if text == '' then return end
  local name = a.name
  if name == nil or name == '' then name = a.id end
  notice(s.account, s.openid, s.id, fill(text, {agent = name}), math.max(tonumber(reserve) - 1, 1), now)
end
