-- A user's message (or a routing event such as a menu click) arrives.
-- ARGV: [1] prefix [2] account [3] openid [4] now ms [5] id for a new session
-- [6] agent proposed by the router ("" = none available) [7] skill
-- [8] message JSON [9] context size [10] idle ms less warn-before ms (the
-- session's idle_ms: the user's silence before the idle warning) [11] unused
-- [12] queue notice ("{position}" is replaced) [13] reserved quota units
-- [14] quota units granted by this message [15] the end of the window
-- this message opens (Unix ms)
-- [16] intake stream [17] consumer group [18] intake entry id ("" = none)
-- [19] queue limit (0 = none) [20] notice when the queue is full
-- [21] gate: "" | "off_hours" | "no_agent" — why no new session may open
-- [22] the gate's notice [23] the message's preview (JSON) for the live
-- list [24] "1": record the message only in a live session (an event such
-- as a menu click that opens none) [25] queue notice when nobody is ahead
-- [26] "1": no agent of the account and skill is online [27] the no_agent
-- notice, sent instead of the queue notice at most once per [28] ms
-- [29] "1": round robin — the script picks the next agent after the last
-- one given a new user, so the rotation moves on new assignments only and
-- is strict across replicas [30] minimum rating ("0" = none): agents below
-- it are picked only when no other can take the user [31] greeting sent on
-- assignment ("" = none; "{agent}" = the agent's name) [32] "1": the skill
-- is not known yet (the account maps WeChat user tags to skills, which
-- costs a lookup the caller makes only for a message that opens a session)
-- Returns {outcome, state, agent, session id, queue position}; outcome is
-- forwarded | assigned | queued | rejected | none | conflict | skill. On
-- conflict nothing changed and the intake entry stays pending: the caller
-- routes again. On skill nothing changed either: the message would open a
-- session, and the caller calls again with the skill. A
-- rejected message (queue full, off hours, no agent) opens no session but
-- is still recorded in the events stream, and the user is told why.
local account, openid, now = ARGV[2], ARGV[3], ARGV[4]
local key = session_key(account, openid)
-- The session's fields this script uses, no more: one table built at
-- once rather than the whole hash (nil: no session).
local s
do
  local f = redis.call('HMGET', key, 'state', 'id', 'agent', 'skill', 'unread', 'warned', 'waiting_since',
    'answered', 'overdue', 'qleft', 'quntil')
  if f[1] then
    s = {state = f[1], id = f[2], agent = f[3] or nil, skill = f[4] or nil, unread = f[5] or nil,
      warned = f[6] or nil, waiting_since = f[7] or nil, answered = f[8] or nil, overdue = f[9] or nil,
      qleft = f[10] or nil, quntil = f[11] or nil, account = account, openid = openid}
  end
end
local nowms = tonumber(now)

-- WeChat's reply quota (docs/wechat.md, "The 48-hour window and reply quota"): a user message grants 5 sends for
-- 48 h; a click, follow or scan 3 for a minute, counted here only when no
-- window is open (a conservative view: how WeChat combines overlapping
-- windows is not documented). quota returns the units left after this
-- message's grant, for the agent, and until when; sess, if given, is the
-- live session as read (the view is in its hash, see quota_of in
-- common.lua). It writes nothing: the caller does, with the session.
local function quota(sess)
  local grant = tonumber(ARGV[14])
  -- a message's grant replaces the window whatever it was (as strings:
  -- they are written as they are)
  if grant >= 5 then return ARGV[14], ARGV[15] end
  local left, till = 0, 0
  if sess and sess.quntil then
    left, till = tonumber(sess.qleft or '0'), tonumber(sess.quntil)
  else
    left, till = quota_of(account, openid)
  end
  if till < nowms then left = 0 end
  if grant > 0 and left == 0 then return ARGV[14], ARGV[15] end
  return left, till
end

-- remember keeps the message in the context and the live list's view of
-- the session: its last message, the user's unread messages (since the
-- agent last wrote) and since when the user waits for an answer. sess
-- holds the session's fields as the script read them (a new session's
-- as it wrote them), so the hash is written in one command, with fields,
-- if given, a new session's own (then without `updated`: a session never
-- updated since it opened has only `created`). Only a served session is
-- in the live index (live_touch in common.lua). Every step costs the same
-- whatever the number of sessions, queued users or agents.
local function remember(sess, fields, left, till)
  -- A session a kf account serves in WeChat's tool (agent kf:…, engine's
  -- KfAgentPrefix): kfgate sees neither side there, so nobody owes an
  -- answer it could measure, and the idle clock starts again (as
  -- wechatidle.lua does at the hand-over).
  local wechat = sess.state == 'serving' and string.sub(sess.agent or '', 1, 3) == 'kf:'
  local ck = context_key(account, openid)
  local size = tonumber(ARGV[9])
  if redis.call('RPUSH', ck, ARGV[8]) > size then redis.call('LTRIM', ck, -size, -1) end
  local unread = '1' -- a string as it is written, for a new session
  if sess.unread then unread = tonumber(sess.unread) + 1 end
  local set = fields
  if not set then set = {'updated', now} end
  if not left then left, till = quota(sess) end
  local n = #set
  set[n + 1], set[n + 2], set[n + 3], set[n + 4] = 'last', ARGV[23], 'unread', unread
  set[n + 5], set[n + 6], set[n + 7], set[n + 8] = 'qleft', left, 'quntil', till
  if sess.warned == '1' then -- the idle warning is for the user's silence, which ended
    set[#set + 1] = 'warned'
    set[#set + 1] = '0'
  end
  if wechat then
    set[#set + 1] = 'answered'
    set[#set + 1] = '1'
  elseif not sess.waiting_since then
    set[#set + 1] = 'waiting_since'
    set[#set + 1] = now
  end
  redis.call('HSET', key, unpack(set))
  if sess.state == 'serving' and not sess.indexed then live_touch(key, now) end
  if wechat then
    if sess.waiting_since then
      owe_none(key)
      redis.call('HDEL', key, 'waiting_since')
    end
    redis.call('ZADD', P .. 'deadlines', nowms + tonumber(ARGV[10]), key)
    sess.unread, sess.qleft, sess.quntil = unread, left, till
    return left
  end
  -- The user wrote last: the agent owes the answer, from now on unless
  -- it owed one already (waiting_since was set: the session is in
  -- <prefix>owe:first, owe:next or overdue, and out of <prefix>deadlines).
  -- A waiting user owes nothing and is never in <prefix>deadlines (the
  -- scripts that queue a session take it out).
  if sess.state == 'serving' and not sess.waiting_since then
    -- owe in common.lua, from the fields read: not owed yet, so in
    -- neither <prefix>owe set (nor, if just opened, in <prefix>deadlines)
    if not sess.fresh then redis.call('ZREM', P .. 'deadlines', key) end
    if sess.overdue ~= '1' then
      local which = 'owe:first'
      if sess.answered == '1' then which = 'owe:next' end
      redis.call('ZADD', P .. which, now, key)
    end
  end
  sess.unread, sess.waiting_since = unread, sess.waiting_since or now
  sess.qleft, sess.quntil = left, till
  return left
end

local function received(sess, quota)
  emit('message.received', sess, now, 'user', '', {quota = tonumber(quota)}, {message = ARGV[8]})
end

local function ack()
  if ARGV[18] ~= '' then redis.call('XACK', ARGV[16], ARGV[17], ARGV[18]) end
end

if s then
  received(s, remember(s))
  ack()
  local pos = 0
  if s.state ~= 'serving' then pos = queue_pos(queue_key(account, s.skill or ''), openid) end
  return {'forwarded', s.state, s.agent or '', s.id, pos}
end
if ARGV[24] == '1' then
  ack()
  return {'none', '', '', '', 0}
end
if ARGV[32] == '1' then return {'skill', '', '', '', 0} end

local skill, proposed = ARGV[7], ARGV[6]
s = {id = ARGV[5], account = account, openid = openid, skill = skill, state = 'waiting', agent = ''}
local q = queue_key(account, skill)
local limit = tonumber(ARGV[19])
-- The queue's length. With no agent proposed the user most likely queues
-- (a surge): the queue's count goes up at once and its answer is the
-- length with the user (unjoin takes it back if the user does not queue
-- after all); else the queue is read.
local qlen, joined
if proposed == '' and ARGV[21] == '' then
  joined = queue_count(account, skill, 1)
  qlen = joined - 1
else
  qlen = queue_len(q)
end
local function unjoin()
  if joined then queue_count(account, skill, -1) end
  joined = nil
end

-- reject answers a message that may not open a session: it is recorded,
-- the user is told why, and nothing else changes.
local function reject(reason, text)
  unjoin()
  local left, till = quota(nil)
  if tonumber(till) > nowms then
    local qk = P .. 'quota:' .. account .. ':' .. openid
    redis.call('HSET', qk, 'left', left, 'until', till)
    redis.call('PEXPIRE', qk, till - nowms)
  end
  s.id, s.state = '', 'rejected'
  received(s, left)
  -- Tell the user once, not at every message they send meanwhile.
  if redis.call('SET', P .. 'told:' .. account .. ':' .. openid .. ':' .. reason, '1', 'NX', 'PX', 600000) then
    notice(account, openid, '', text, tonumber(ARGV[13]), now)
  end
  ack()
  return {'rejected', reason, '', '', 0}
end
if ARGV[21] ~= '' then return reject(ARGV[21], ARGV[22]) end
-- A returning user goes back to the last agent when it can take them.
local reason = 'new'
local last = qlen == 0 and redis.call('GET', P .. 'last:' .. account .. ':' .. openid)
if last and can_take(hgetall(agent_key(last)), account, skill, '') then
  proposed, reason = last, 'returning'
end
-- rotate returns the next agent after the one that got the last new user
-- of the account, in id order, that can take the user: first among the
-- agents rated at least minr, then among all.
local function rotate(minr)
  local ids = redis.call('SMEMBERS', P .. 'account:' .. account .. ':agents')
  if #ids == 0 then return nil end
  table.sort(ids)
  local last = redis.call('GET', P .. 'rr:' .. account) or ''
  local start = 1
  for i, id in ipairs(ids) do
    if id > last then start = i; break end
  end
  for pass = 1, 2 do
    for j = 0, #ids - 1 do
      local a = hgetall(agent_key(ids[(start - 1 + j) % #ids + 1]))
      if can_take(a, account, skill, '') then
        local rated = minr <= 0 or a.rating == nil or tonumber(a.rating) >= minr
        if pass == 2 or rated then return a end
      end
    end
    if minr <= 0 then break end
  end
  return nil
end
if ARGV[29] == '1' and reason == 'new' and qlen == 0 then
  local a = rotate(tonumber(ARGV[30]))
  if a then
    proposed = a.id
    redis.call('SET', P .. 'rr:' .. account, a.id)
  end
end
-- Users already queued for this skill go first: a newcomer joins the end
-- of a non-empty queue (the caller then drains it).
local queued = qlen > 0
if proposed ~= '' and not queued then
  local a = hgetall(agent_key(proposed))
  unjoin()
  if not can_take(a, account, skill, '') then
    return {'conflict', '', '', '', 0}
  end
  local fields = {'id', s.id, 'state', 'waiting', 'created', now, 'updated', now, 'idle_ms', ARGV[10]}
  if skill ~= '' then
    fields[#fields + 1] = 'skill'
    fields[#fields + 1] = skill
  end
  redis.call('HSET', key, unpack(fields))
  sid_set(s.id, account, openid)
  s.fresh = true
  local cap = give(key, s, a, now)
  local ctx = context_json(account, openid) -- empty: the message follows as message.received
  local left = remember(s)
  emit('session.assigned', s, now, 'router', reason, cap, {context = ctx})
  received(s, left)
  greet(s, a, ARGV[31], ARGV[13], now)
  ack()
  return {'assigned', 'serving', a.id, s.id, 0}
end

if not queued and any_agent_can_take(account, skill) then
  unjoin()
  return {'conflict', '', '', '', 0} -- the router's view is stale: an agent is free
end
if limit > 0 and qlen >= limit then return reject('queue_full', ARGV[20]) end
-- The user joins the end: its place is the queue's length plus one,
-- written with the session as the place told (told_pos). A session that
-- opens queued keeps no field equal to `created`: it was queued, told its
-- place and last updated then (queued_at, told_at and updated absent; the
-- readers fall back to created), and idle_ms comes with its agent (give in
-- common.lua). Each field less is ~20 bytes of a surge's every waiting
-- user (docs/redis.md, "Memory per session").
local pos = qlen + 1
-- The first in the queue is next: no "1 ahead" (ARGV[25]). With nobody
-- online, the no_agent notice says so instead, once per period.
local text = ARGV[12]
if ARGV[26] == '1' then
  -- When the user was told last is kept (on the engine's clock) for one
  -- period: set unless there (NX), the old time back (GET, Redis ≥ 7.0).
  local tk = P .. 'told:' .. account .. ':' .. openid .. ':no_agent'
  local period = ARGV[28]
  local last = redis.call('SET', tk, now, 'NX', 'GET', 'PX', period)
  text = ''
  if not last then
    text = ARGV[27]
  elseif nowms - tonumber(last) >= tonumber(period) then
    redis.call('SET', tk, now, 'PX', period)
    text = ARGV[27]
  end
else
  if pos == 1 and ARGV[25] ~= '' then text = ARGV[25] end
  text = fill(text, {ahead = pos - 1, position = pos})
end
-- The notice's reply unit is taken from the window the session is
-- written with (as notice in common.lua would, without reading it back).
local left, till = quota(nil)
local told = text ~= '' and tonumber(till) >= nowms and tonumber(left) > tonumber(ARGV[13])
local kept = left
if told then kept = left - 1 end
sid_set(s.id, account, openid)
local fields = {'id', s.id, 'state', 'waiting', 'created', now, 'told_pos', pos}
if skill ~= '' then
  fields[#fields + 1] = 'skill'
  fields[#fields + 1] = skill
end
remember(s, fields, kept, till)
local id = emit('session.queued', s, now, 'router', 'no agent available', {position = pos})
local added = queue_add(q, openid, false, queue_score(now, id))
if joined then
  if added == 0 then unjoin() end -- a stale entry of the user's: the place is kept
elseif added == 1 then
  queue_count(account, skill, 1)
end
received(s, left)
if told then
  redis.call('XADD', P .. 'outbox', '*', 'account', account, 'openid', openid, 'session', s.id,
    'kind', 'notice', 'msgtype', 'text', 'content', text)
end
ack()
return {'queued', 'waiting', '', s.id, pos}
