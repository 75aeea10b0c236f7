-- heartbeat: keep this store instance in the set of live instances and count them. The count divides
-- each limit when Redis becomes unreachable (onOutage: 'local-share'). Always in Redis time.
-- KEYS[1]  the sorted set of live instances: member = instance id, score = last heartbeat (Redis ms)
-- ARGV[1]  this instance's id
-- ARGV[2]  member ttl ms: instances not seen for this long are dropped
-- ARGV[3]  1 = join or refresh, 0 = leave (on close)
-- Returns  the number of live instances after this call
local key = KEYS[1]
local now = redis.call('TIME')
local t = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', key, t, ARGV[1])
else
  redis.call('ZREM', key, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', t - ttl)
redis.call('PEXPIRE', key, 2 * ttl)
return redis.call('ZCARD', key)
