-- The live list: a page of live sessions in one round trip, never by a
-- SCAN of the keyspace. The served sessions come first, the most recently
-- active first, read from the index <prefix>live (see live_touch in
-- common.lua); then the queued ones (waiting, transferring), in the order
-- they will be taken — the queues' own order, merged across the queues
-- (a queue's score is the arrival, the same clock for every queue:
-- queue_score in common.lua). Unfiltered, a page costs one hash read per
-- session; with an account or state filter the entries are read in chunks
-- until the page is full or ARGV[9] entries were looked at (then the
-- cursor lets the caller go on). With an agent, only that agent's
-- sessions are read.
-- ARGV: [1] prefix [2] account ("" = any) [3] state ("" = any) [4] agent ("" = any)
-- [5] cursor's part: "s" served, "q" queued ("" = from the start)
-- [6] cursor: the score of the last session of the previous page
-- [7] cursor: its key [8] page size [9] most entries to look at
-- Returns {next part, next score, next key ("" = no more), live sessions in
-- all, entries looked at, users queued (of the account, if given), then
-- each session's HGETALL}.
local account, state, agent = ARGV[2], ARGV[3], ARGV[4]
local part, cscore, ckey = ARGV[5], ARGV[6], ARGV[7]
local limit, budget = tonumber(ARGV[8]), tonumber(ARGV[9])
local index = P .. 'live'
local out = {'', '', '', redis.call('ZCARD', index), 0, 0}
local found = 0

-- The queues, from their counts (<prefix>counts field
-- queue:<account>:<skill>; an appid has no ':'), with the live sessions'
-- total (the served and the queued) and the users queued: a page is a
-- page, these say how many there are (a surge's 100,000 waiting).
local queues = {}
do
  local flat = redis.call('HGETALL', P .. 'counts')
  for i = 1, #flat, 2 do
    local acct, skill = string.match(flat[i], '^queue:([^:]*):(.*)$')
    if acct then
      local n = math.max(tonumber(flat[i + 1]) or 0, 0)
      out[4] = out[4] + n
      if account == '' or acct == account then
        queues[#queues + 1] = {acct, queue_key(acct, skill)}
        out[6] = out[6] + n
      end
    end
  end
end

-- with_user adds the account and openid the session's key holds to its
-- HGETALL (see session_user in common.lua), for the caller.
local function with_user(flat, key)
  local acct, openid = session_user(key)
  flat[#flat + 1] = 'account'
  flat[#flat + 1] = acct
  flat[#flat + 1] = 'openid'
  flat[#flat + 1] = openid
  return flat
end

-- take looks at one entry: it is added to the page when its session is
-- live, of the account and in one of the states wanted. One read an
-- entry: with a filter the state first (most entries may not match), else
-- the whole hash, whose state says the rest. It reports whether the page
-- is full or the budget spent.
local function take(key, states)
  out[5] = out[5] + 1
  local st, flat
  if account ~= '' or state ~= '' then
    st = redis.call('HGET', key, 'state')
    if st and states[st] and (account == '' or session_user(key) == account) and (state == '' or st == state) then
      flat = redis.call('HGETALL', key)
    end
  else
    flat = redis.call('HGETALL', key)
    for i = 1, #flat, 2 do
      if flat[i] == 'state' then st = flat[i + 1] end
    end
    if not states[st or ''] then flat = nil end
  end
  if flat and #flat > 0 then
    out[#out + 1] = with_user(flat, key)
    found = found + 1
  end
  return found == limit or out[5] >= budget
end

if agent ~= '' then
  -- after reports whether (score, key) comes after the cursor in the
  -- order of the served: score descending, then key descending.
  local function after(score, key)
    if cscore == '' then return true end
    local a, b = tonumber(score), tonumber(cscore)
    return a < b or (a == b and key < ckey)
  end
  local rows = {}
  for _, member in ipairs(redis.call('SMEMBERS', agent_key(agent) .. ':sessions')) do
    local acct, openid = string.match(member, '^([^:]+):(.+)$')
    local key = session_key(acct or '', openid or '')
    local score = redis.call('ZSCORE', index, key)
    if score and after(score, key) then rows[#rows + 1] = {tonumber(score), key, score} end
  end
  table.sort(rows, function(x, y) return x[1] > y[1] or (x[1] == y[1] and x[2] > y[2]) end)
  for _, r in ipairs(rows) do
    out[5] = out[5] + 1
    local flat = redis.call('HGETALL', r[2])
    local h = {}
    for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
    if #flat > 0 and (account == '' or session_user(r[2]) == account) and (state == '' or h.state == state)
      and h.agent == agent then
      out[#out + 1] = with_user(flat, r[2])
      found = found + 1
      if found == limit then
        out[1], out[2], out[3] = 's', r[3], r[2]
        break
      end
    end
  end
  return out
end

local chunk = limit
if account ~= '' or state ~= '' then chunk = math.max(limit, 128) end
chunk = chunk + 1 -- the cursor's own entry may come back first

-- The served, from the index. An entry of a queued session (an earlier
-- version's, until Store.IndexLive took it out) is skipped: the queues
-- list it.
local function served()
  local max = '+inf'
  if cscore ~= '' then max = cscore end
  local offset = 0
  while true do
    local page = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, chunk)
    offset = offset + #page / 2
    for i = 1, #page, 2 do
      local key, score = page[i], page[i + 1]
      local a, b = tonumber(score), tonumber(cscore)
      if cscore == '' or a < b or (a == b and key < ckey) then
        if take(key, {serving = true}) then
          out[1], out[2], out[3] = 's', score, key
          return true
        end
      end
    end
    if #page < chunk * 2 then return false end
  end
end

-- The queued, merged from the queues by score (ascending), then key.
-- Each round reads a chunk of every queue after the cursor; its entries
-- are certain up to the lowest last score of a queue that had more.
local function queued()
  local cs = nil
  if cscore ~= '' then cs = tonumber(cscore) end
  while true do
    local rows, bound = {}, nil
    for _, q in ipairs(queues) do
      local min = '-inf'
      if cs then min = cscore end
      local page = queue_call('ZRANGEBYSCORE', q[2], min, '+inf', 'WITHSCORES', 'LIMIT', 0, chunk)
      for i = 1, #page, 2 do
        local key, score = session_key(q[1], page[i]), tonumber(page[i + 1])
        if not cs or score > cs or (score == cs and key > ckey) then rows[#rows + 1] = {score, key, page[i + 1]} end
      end
      if #page == chunk * 2 then
        local last = tonumber(page[#page])
        if not bound or last < bound then bound = last end
      end
    end
    table.sort(rows, function(x, y) return x[1] < y[1] or (x[1] == y[1] and x[2] < y[2]) end)
    local last
    for _, r in ipairs(rows) do
      if bound and r[1] > bound then break end
      last = r
      if take(r[2], {waiting = true, transferring = true}) then
        out[1], out[2], out[3] = 'q', r[3], r[2]
        return
      end
    end
    if not bound or not last then return end
    cs, cscore, ckey = last[1], last[3], last[2]
  end
end

if part ~= 'q' and (state == '' or state == 'serving') then
  if served() then return out end
  cscore, ckey = '', ''
end
if state ~= 'serving' then queued() end
return out
