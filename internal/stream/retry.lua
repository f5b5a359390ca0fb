-- Append dead-letter entry ARGV[2] of stream ARGV[1] to its source stream
-- again (a new id, the same fields) and remove it from the dead-letter
-- stream, in one step. ARGV[3] is kfgate's key prefix: an entry naming a
-- stream outside it is refused.
-- Returns the new id, false if there is no such entry, or an error reply
-- "bad_entry".
local e = redis.call('XRANGE', ARGV[1], ARGV[2], ARGV[2])
if #e == 0 then return false end
local f, stream, args = e[1][2], nil, {}
for i = 1, #f, 2 do
  if f[i] == 'stream' then
    stream = f[i + 1]
  elseif string.sub(f[i], 1, 2) == 'f:' then
    args[#args + 1] = string.sub(f[i], 3)
    args[#args + 1] = f[i + 1]
  end
end
if not stream or #args == 0 or string.sub(stream, 1, #ARGV[3]) ~= ARGV[3] then
  return redis.error_reply('bad_entry')
end
local id = redis.call('XADD', stream, '*', unpack(args))
redis.call('XDEL', ARGV[1], ARGV[2])
return id
