-- The live list: a page of live sessions, the most recently active first,
-- read from the index <prefix>live (see live_touch in common.lua) in one
-- round trip, never by a SCAN of the keyspace. Unfiltered, a page costs
-- one hash read per session; with an account or state filter the index is
-- read in chunks until the page is full or ARGV[8] entries were looked at
-- (then the cursor lets the caller go on). With an agent, only that agent's
-- sessions are read.
-- ARGV: [1] prefix [2] account ("" = any) [3] state ("" = any) [4] agent ("" = any)
-- [5] cursor: the score of the last session of the previous page ("" = from the newest)
-- [6] cursor: its key [7] page size [8] most index entries to look at
-- Returns {next score, next key ("" = no more), live sessions in all,
-- entries looked at, then each session's HGETALL}.
local account, state, agent = ARGV[2], ARGV[3], ARGV[4]
local cscore, ckey = ARGV[5], ARGV[6]
local limit, budget = tonumber(ARGV[7]), tonumber(ARGV[8])
local index = P .. 'live'
local out = {'', '', redis.call('ZCARD', index), 0}

-- after reports whether (score, key) comes after the cursor in the order
-- of the list: score descending, then key descending (ZREVRANGE's order).
local function after(score, key)
  if cscore == '' then return true end
  local a, b = tonumber(score), tonumber(cscore)
  return a < b or (a == b and key < ckey)
end

local function matches(h)
  return h ~= nil and (account == '' or h.account == account) and (state == '' or h.state == state)
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

if agent ~= '' then
  local rows = {}
  for _, member in ipairs(redis.call('SMEMBERS', agent_key(agent) .. ':sessions')) do
    local acct, openid = string.match(member, '^([^:]+):(.+)$')
    local key = session_key(acct or '', openid or '')
    local score = redis.call('ZSCORE', index, key)
    if score and after(score, key) then rows[#rows + 1] = {tonumber(score), key, score} end
  end
  table.sort(rows, function(x, y) return x[1] > y[1] or (x[1] == y[1] and x[2] > y[2]) end)
  local found = 0
  for _, r in ipairs(rows) do
    out[4] = out[4] + 1
    local flat = redis.call('HGETALL', r[2])
    local h = {}
    for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
    h.account = h.account or session_user(r[2])
    if #flat > 0 and matches(h) and h.agent == agent then
      out[#out + 1] = with_user(flat, r[2])
      found = found + 1
      if found == limit then
        out[1], out[2] = r[3], r[2]
        break
      end
    end
  end
  return out
end

local max = '+inf'
if cscore ~= '' then max = cscore end
local offset, found = 0, 0
local chunk = limit
if account ~= '' or state ~= '' then chunk = math.max(limit, 128) end
chunk = chunk + 1 -- the cursor's own entry may come back first
local last_score, last_key = '', ''
-- stopped: the page is full or the budget spent, so the cursor is
-- returned (the next page may turn out empty).
local stopped = false
while true do
  local page = redis.call('ZREVRANGEBYSCORE', index, max, '-inf', 'WITHSCORES', 'LIMIT', offset, chunk)
  offset = offset + #page / 2
  for i = 1, #page, 2 do
    local key, score = page[i], page[i + 1]
    if after(score, key) then
      out[4] = out[4] + 1
      last_score, last_key = score, key
      local ok = true
      if account ~= '' or state ~= '' then
        local st = redis.call('HGET', key, 'state')
        ok = st and matches({account = session_user(key), state = st})
      end
      if ok then
        local flat = redis.call('HGETALL', key)
        if #flat > 0 then
          out[#out + 1] = with_user(flat, key)
          found = found + 1
        end
      end
      if found == limit or out[4] >= budget then
        stopped = true
        break
      end
    end
  end
  if stopped or #page < chunk * 2 then break end
end
if stopped then out[1], out[2] = last_score, last_key end
return out
