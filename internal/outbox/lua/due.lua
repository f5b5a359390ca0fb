-- Pop one entry whose retry is due; ZREM makes the pop atomic, so one
-- worker of the cluster gets it (it then XCLAIMs the entry).
-- ARGV: [1] prefix [2] now ms. Returns the id or false.
local retry = stream .. ':retry'
local ids = redis.call('ZRANGEBYSCORE', retry, '-inf', ARGV[2], 'LIMIT', 0, 1)
if #ids == 0 then return false end
redis.call('ZREM', retry, ids[1])
return ids[1]
