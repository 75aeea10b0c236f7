-- reserve: charge a cost vector to every bucket of a lane, all or nothing, in one round trip.
-- The math is src/engine/limits.ts (levelAt, waitFor with margin, charge); keep the two in step.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), cd (cooldown until, ms)
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME (hosts with skewed clocks agree), 0 = ARGV[1]
-- ARGV[3]  idle ms: the least time the hash lives after a write
-- ARGV[4]  n, the number of buckets; then 6 values per bucket i (from ARGV[5 + 6 * (i - 1)]):
--          id, limit (units per window), window ms, capacity (units), margin (units), cost (units)
-- Returns  {code, wait, index, level 1, ..., level n}: code 0 = charged (wait "0", index 0); 1 = refused,
--          fits after wait ms, index = 1-based bucket with the longest wait; 2 = never fits (cost above the
--          capacity of bucket index, wait "inf"); 3 = cooling down for wait ms (index 0). level i = units
--          in use in bucket i after the call (what the store falls back on if Redis becomes unreachable).
--          wait and levels are strings: Lua numbers would be truncated to integers on the way out.
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
  fields[#fields + 1] = 'l:' .. id
  fields[#fields + 1] = 't:' .. id
end
local stored = redis.call('HMGET', key, unpack(fields))

local levels = {}
local out = {}
for i = 1, n do
  local base = 5 + 6 * (i - 1)
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local level = tonumber(stored[2 * i])
  local at = tonumber(stored[2 * i + 1])
  if level == nil or at == nil then
    level = 0
  else
    level = math.max(0, level - math.max(0, (t - at) * limit / window))
  end
  levels[i] = level
  out[i] = string.format('%.17g', level)
end

local cd = tonumber(stored[1]) or 0
if cd > t then
  return { 3, string.format('%.17g', cd - t), 0, unpack(out) }
end

local worst = 0
local blocked = 0
for i = 1, n do
  local base = 5 + 6 * (i - 1)
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local capacity = tonumber(ARGV[base + 3])
  local margin = tonumber(ARGV[base + 4])
  local cost = tonumber(ARGV[base + 5])
  local level = levels[i]
  if cost > 0 then
    if cost > capacity then
      return { 2, 'inf', i, unpack(out) }
    end
    if level > 0 then
      local over = math.min(level, level + cost + margin - capacity)
      if over > 1e-9 then
        local wait = over * window / limit
        if wait > worst then
          worst = wait
          blocked = i
        end
      end
    end
  end
end
if worst > 0 then
  return { 1, string.format('%.17g', worst), blocked, unpack(out) }
end

local writes = {}
local ttl = idle
for i = 1, n do
  local base = 5 + 6 * (i - 1)
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local cost = tonumber(ARGV[base + 5])
  local level = levels[i]
  if cost ~= 0 then
    level = math.max(0, level + cost)
    writes[#writes + 1] = 'l:' .. ARGV[base]
    writes[#writes + 1] = string.format('%.17g', level)
    writes[#writes + 1] = 't:' .. ARGV[base]
    writes[#writes + 1] = string.format('%.17g', t)
    out[i] = string.format('%.17g', level)
  end
  ttl = math.max(ttl, window, level * window / limit)
end
if #writes > 0 then
  redis.call('HSET', key, unpack(writes))
  if ttl > redis.call('PTTL', key) then
    redis.call('PEXPIRE', key, math.ceil(ttl))
  end
end
return { 0, '0', 0, unpack(out) }
