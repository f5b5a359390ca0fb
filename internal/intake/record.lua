-- Record one WeChat delivery, once.
-- KEYS[1] the delivery's dedup key; KEYS[2] the intake stream.
-- ARGV[1] dedup TTL in milliseconds; ARGV[2] the answer to keep for retries;
-- ARGV[3..] the stream entry's field/value pairs.
-- Returns {1, entry id} for a new delivery, {0, first answer} for a retry.
local first = redis.call('GET', KEYS[1])
if first then
  return {0, first}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
return {1, id}
