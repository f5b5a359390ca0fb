-- Record one WeChat delivery, once, refusing a replayed timestamp and nonce.
-- KEYS[1] the delivery's dedup key; KEYS[2] the intake stream;
-- KEYS[3] the callback's (timestamp, nonce) key.
-- ARGV[1] dedup TTL in milliseconds; ARGV[2] the answer to keep for retries;
-- ARGV[3] the hash of the callback's body ('' = no pair to check);
-- ARGV[4] how long to remember the pair, in milliseconds;
-- ARGV[5] '1' when the caller then waits for replicas (WAIT): a retry
-- renews the dedup key, a write after the first record, so that replicas
-- acknowledging it hold the record too (docs/architecture.md, "Failover");
-- ARGV[6..] the stream entry's field/value pairs.
-- Returns {1, entry id} for a new delivery, {0, first answer} for a retry,
-- {2, ''} for a pair seen before with another body.
if ARGV[3] ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    if seen ~= ARGV[3] then
      return {2, ''}
    end
  else
    redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
  end
end
local first = redis.call('GET', KEYS[1])
if first then
  if ARGV[5] == '1' then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
  end
  return {0, first}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[1])
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 6))
return {1, id}
