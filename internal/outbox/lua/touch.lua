-- Take the lease on entry ARGV[4] for one send attempt: only if consumer
-- ARGV[3] of group ARGV[2] still owns it and it is not waiting for a later
-- retry. Resets the entry's idle time (so XAUTOCLAIM elsewhere leaves it
-- alone during the call) and counts the attempt. It also reads until when
-- the user's reply window is open (quota_of), for the worker's last check
-- before the call, in the same round trip.
-- ARGV: [1] prefix [2] group [3] consumer [4] id [5] now ms [6] account
-- [7] openid
-- Returns {the attempt number, the window's end in ms}; the attempt is -1
-- if the entry is not ours (acked, or claimed by another worker), -2 if
-- its retry is not due yet.
local group, consumer, id = ARGV[2], ARGV[3], ARGV[4]
local p = redis.call('XPENDING', stream, group, id, id, 1)
if #p == 0 or p[1][2] ~= consumer then return {-1, 0} end
local retry = stream .. ':retry'
local due = redis.call('ZSCORE', retry, id)
if due and tonumber(due) > tonumber(ARGV[5]) then return {-2, 0} end
redis.call('ZREM', retry, id)
redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
local _, till = quota_of(ARGV[6], ARGV[7])
return {redis.call('HINCRBY', stream .. ':attempts', id, 1), till}
