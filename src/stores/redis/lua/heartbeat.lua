-- heartbeat: keep this store instance in the set of live instances, count them, and read the epoch. The
-- count divides each limit when Redis becomes unreachable (onOutage: 'local-share'); a changed epoch
-- tells that Redis lost its data (a restart without persistence) while this instance could not reach it.
-- Always in Redis time.
-- KEYS[1]  the sorted set of live instances: member = instance id, score = last heartbeat (Redis ms)
-- KEYS[2]  the epoch: a random string set by the first instance to beat on an empty Redis
-- ARGV[1]  this instance's id
-- ARGV[2]  member ttl ms: instances not seen for this long are dropped
-- ARGV[3]  1 = join or refresh, 0 = leave (on close)
-- ARGV[4]  an epoch to set if there is none
-- ARGV[5]  epoch ttl ms (refreshed by every heartbeat)
-- Returns  {count, epoch}: the number of live instances after this call, and the epoch
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
redis.call('SET', KEYS[2], ARGV[4], 'NX')
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
return { redis.call('ZCARD', key), redis.call('GET', KEYS[2]) }
