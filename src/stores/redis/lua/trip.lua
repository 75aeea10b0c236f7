-- trip: record that a lane's quota is exhausted; reserve refuses (code 4) until the next probe.
-- KEYS[1]  the lane's shared hash: tp (next probe at, ms), ti (probe interval, ms), tm (message), tc (code)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME, 0 = ARGV[1]
-- ARGV[3]  probe interval ms
-- ARGV[4]  the message
-- ARGV[5]  the upstream's error code, or ''
-- ARGV[6]  ttl ms of the shared hash
-- Returns  0
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local interval = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'tp', t + interval, 'ti', interval, 'tm', ARGV[4], 'tc', ARGV[5])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[6]))
return 0
