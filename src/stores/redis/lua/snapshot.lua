-- snapshot: read a lane's bucket levels and how long it still cools down. Writes nothing.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), cd (cooldown until, ms)
-- KEYS[2]  the lane's shared hash: v (learned limits' version), r (the learned limits, JSON)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME, 0 = ARGV[1]
-- ARGV[3]  the learned version the caller holds ('' = it names none); behind the lane's, the buckets
--          its learned limits name drain at their limit
-- ARGV[4]  n, the number of buckets; then 3 values per bucket i (from ARGV[5 + 3 * (i - 1)]):
--          id, limit (units per window), window ms
-- Returns  {cooldown, level 1, ..., level n} as strings: cooldown = ms the lane still pauses (0 when
--          not paused), level i = units in use in bucket i now
local key = KEYS[1]
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local n = tonumber(ARGV[4])

local fields = { 'cd' }
for i = 1, n do
  local id = ARGV[5 + 3 * (i - 1)]
  fields[#fields + 1] = 'l:' .. id
  fields[#fields + 1] = 't:' .. id
end
local stored = redis.call('HMGET', key, unpack(fields))

--- @include drained
--- @include learned
local newer = learnedLimits(KEYS[2], tonumber(ARGV[3]))

local cd = tonumber(stored[1]) or 0
local out = { string.format('%.17g', math.max(0, cd - t)) }
for i = 1, n do
  local base = 5 + 3 * (i - 1)
  local limit = newer and newer[ARGV[base]] or tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  out[#out + 1] = string.format('%.17g', drained(stored[2 * i], stored[2 * i + 1], t, limit, window))
end
return out
