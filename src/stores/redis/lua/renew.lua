-- renew: extend the leases a live process still holds on one lane (its heartbeat), so that only the
-- leases of a process that died lapse.
-- KEYS[1]  the lane's leases: sorted set, member = slot id, score = lease end (ms)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME, 0 = ARGV[1]
-- ARGV[3]  lease ms
-- ARGV[4…] slot ids
-- Returns  the number of leases renewed (a lease that already lapsed is not taken again)
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local lease = tonumber(ARGV[3])
local renewed = 0
for i = 4, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', t + lease, ARGV[i])
end
if renewed > 0 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * lease))
end
return renewed
