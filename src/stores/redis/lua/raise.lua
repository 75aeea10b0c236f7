-- raise: lift bucket levels of a lane to at least the given values (the server's last word); never lowers.
-- Keeps the word too (the highest, draining like a level): adjust.lua refunds never below it.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), f:<bucket id> and
--          g:<bucket id> (the server's last word and its at), cd (cooldown until, ms)
-- KEYS[2]  the lane's shared hash: v (learned limits' version), r (the learned limits, JSON)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME, 0 = ARGV[1]
-- ARGV[3]  idle ms: the least time the hash lives after a write
-- ARGV[4]  the learned version the caller holds ('' = it names none); behind the lane's, the buckets
--          its learned limits name drain at their limit
-- ARGV[5]  n, the number of buckets; then 4 values per bucket i (from ARGV[6 + 4 * (i - 1)]):
--          id, limit (units per window), window ms, target level (units)
-- Returns  0
local key = KEYS[1]
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local idle = tonumber(ARGV[3])

--- @include drained
--- @include learned
local newer = learnedLimits(KEYS[2], tonumber(ARGV[4]))
local n = tonumber(ARGV[5])

local writes = {}
local ttl = idle
for i = 1, n do
  local base = 6 + 4 * (i - 1)
  local id = ARGV[base]
  local limit = newer and newer[id] or tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local target = tonumber(ARGV[base + 3])
  local stored = redis.call('HMGET', key, 'l:' .. id, 't:' .. id, 'f:' .. id, 'g:' .. id)
  if target > drained(stored[1], stored[2], t, limit, window) then
    writes[#writes + 1] = 'l:' .. id
    writes[#writes + 1] = target
    writes[#writes + 1] = 't:' .. id
    writes[#writes + 1] = t
  end
  if target > drained(stored[3], stored[4], t, limit, window) then
    writes[#writes + 1] = 'f:' .. id
    writes[#writes + 1] = target
    writes[#writes + 1] = 'g:' .. id
    writes[#writes + 1] = t
    ttl = math.max(ttl, window, target * window / limit)
  end
end
if #writes > 0 then
  redis.call('HSET', key, unpack(writes))
  if ttl > redis.call('PTTL', key) then
    redis.call('PEXPIRE', key, math.ceil(ttl))
  end
end
return 0
