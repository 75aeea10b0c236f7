-- cooldown: pause a lane until a time; a later pause extends it, an earlier one is ignored.
-- The pause is stored in the script's time base: start + (until - caller's now), so a caller whose clock
-- is skewed still pauses every process for the same span.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), cd (cooldown until, ms)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME, 0 = ARGV[1]
-- ARGV[3]  idle ms: the least time the hash lives after a write
-- ARGV[4]  until, in the caller's clock (epoch ms)
-- Returns  0
local key = KEYS[1]
local t = tonumber(ARGV[1])
local span = tonumber(ARGV[4]) - t
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local idle = tonumber(ARGV[3])
local untilAt = t + span

local cd = tonumber(redis.call('HGET', key, 'cd')) or 0
if untilAt > cd and span > 0 then
  redis.call('HSET', key, 'cd', untilAt)
  local ttl = math.max(idle, span)
  if ttl > redis.call('PTTL', key) then
    redis.call('PEXPIRE', key, math.ceil(ttl))
  end
end
return 0
