-- reserve: charge a cost vector to every bucket of a lane, all or nothing, in one round trip.
-- The math is src/engine/limits.ts (levelAt, waitFor with margin, charge); keep the two in step.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), cd (cooldown until, ms)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME (hosts with skewed clocks agree), 0 = ARGV[1]
-- ARGV[3]  idle ms: the least time the hash lives after a write
-- ARGV[4]  n, the number of buckets; then 6 values per bucket i (from ARGV[5 + 6 * (i - 1)]):
--          id, limit (units per window), window ms, capacity (units), margin (units), cost (units)
-- Returns  {code, wait, index, level 1, ..., level n}, all integers: code 0 = charged (wait 0, index 0);
--          1 = refused, fits after wait, index = 1-based bucket with the longest wait; 2 = never fits (cost
--          above the capacity of bucket index, wait 0); 3 = cooling down for wait (index 0). wait is in ns
--          (ms x 1e6, rounded up); level i = milli-units in use in bucket i after the call, rounded up (what
--          the store falls back on if Redis becomes unreachable). Integers, because Redis truncates Lua
--          numbers to integers on the way out and formatting strings costs more.
local key = KEYS[1]
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local idle = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local fields = { 'cd' }
for i = 1, n do
  local id = ARGV[5 + 6 * (i - 1)]
  fields[2 * i] = 'l:' .. id
  fields[2 * i + 1] = 't:' .. id
end
local stored = redis.call('HMGET', key, unpack(fields))

-- Each bucket's level now, and the reply's copy of it.
local limits, windows, costs, levels, out = {}, {}, {}, {}, {}
for i = 1, n do
  local base = 5 + 6 * (i - 1)
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  limits[i] = limit
  windows[i] = window
  costs[i] = tonumber(ARGV[base + 5])
  local level = tonumber(stored[2 * i])
  local at = tonumber(stored[2 * i + 1])
  if level == nil or at == nil then
    level = 0
  else
    level = math.max(0, level - math.max(0, (t - at) * limit / window))
  end
  levels[i] = level
  out[i] = math.ceil(level * 1000)
end

local cd = tonumber(stored[1]) or 0
if cd > t then
  return { 3, math.ceil((cd - t) * 1e6), 0, unpack(out) }
end

-- The longest wait over the buckets; a cost above a capacity never fits.
local worst = 0
local blocked = 0
for i = 1, n do
  local cost = costs[i]
  local level = levels[i]
  if cost > 0 then
    local base = 5 + 6 * (i - 1)
    local capacity = tonumber(ARGV[base + 3])
    if cost > capacity then
      return { 2, 0, i, unpack(out) }
    end
    if level > 0 then
      local over = math.min(level, level + cost + tonumber(ARGV[base + 4]) - capacity)
      if over > 1e-9 then
        local wait = over * windows[i] / limits[i]
        if wait > worst then
          worst = wait
          blocked = i
        end
      end
    end
  end
end
if worst > 0 then
  return { 1, math.ceil(worst * 1e6), blocked, unpack(out) }
end

-- Charge every bucket; the hash lives until all of them have drained (cd <= t here).
-- Numbers go to HSET as they are: Redis writes them with full precision.
local writes = {}
local ttl = idle
for i = 1, n do
  local level = levels[i]
  local cost = costs[i]
  if cost ~= 0 then
    level = math.max(0, level + cost)
    local id = ARGV[5 + 6 * (i - 1)]
    writes[#writes + 1] = 'l:' .. id
    writes[#writes + 1] = level
    writes[#writes + 1] = 't:' .. id
    writes[#writes + 1] = t
    out[i] = math.ceil(level * 1000)
  end
  ttl = math.max(ttl, windows[i], level * windows[i] / limits[i])
end
if #writes > 0 then
  redis.call('HSET', key, unpack(writes))
  redis.call('PEXPIRE', key, math.ceil(ttl))
end
return { 0, 0, 0, unpack(out) }
