-- Who waits in one queue, first first, with since when and in which
-- session, in one round trip.
-- ARGV: [1] prefix [2] account [3] skill
-- Returns a flat list: openid, session id, queued at (Unix ms), state, …
local out = {}
for _, openid in ipairs(queue_all(queue_key(ARGV[2], ARGV[3]))) do
  local f = redis.call('HMGET', session_key(ARGV[2], openid), 'id', 'queued_at', 'created', 'state')
  out[#out + 1] = openid
  out[#out + 1] = f[1] or ''
  out[#out + 1] = f[2] or f[3] or ''
  out[#out + 1] = f[4] or ''
end
return out
