-- reserve: charge a cost vector to every bucket of a lane, all or nothing, in one round trip; also the
-- lane's shared state: cooldown, tripped quota, waits of higher priority classes, concurrency leases.
-- The math is src/engine/limits.ts (levelAt, waitFor with margin, charge) and the rules are
-- src/engine/memory-store.ts (reserve); keep the three in step.
-- KEYS[1]  the lane's state hash: fields l:<bucket id> (level), t:<bucket id> (at, ms), cd (cooldown until,
--          ms), w0 / w1 (when the waiting interactive / default requests expect to fit, ms), o0 / o1
--          (the instance that registered w0 / w1)
-- KEYS[2]  the lane's shared hash: v (learned limits version), r (the learned limits, JSON), tp (trip:
--          next probe at, ms), ti (probe interval, ms), tm (trip message), tc (trip code)
-- KEYS[3]  the lane's leases: sorted set, member = slot id, score = lease end (ms)
-- KEYS[4]  the tenant's leases on the lane, the same shape (only when ARGV[9] > 0); a lease here is noted
--          in KEYS[1] as field s:<KEYS[4]> so that clear.lua finds the set
-- ARGV[1]  the caller's now (epoch ms)
-- ARGV[2]  time source: 1 = Redis TIME (hosts with skewed clocks agree), 0 = ARGV[1]
-- ARGV[3]  idle ms: the least time the hash lives after a write
-- ARGV[4]  rank: 0 interactive, 1 default, 2 batch; lower classes yield while a higher one waits
-- ARGV[5]  own: buckets 1..own are a tenant's own; a wait on them registers nothing
-- ARGV[6]  last: 1 when this is the last request of its class waiting in the caller's process
-- ARGV[7]  slot id to lease, or '' for none
-- ARGV[8]  slots: at most this many leases at once in KEYS[3]; 0 = the lane does not limit them
-- ARGV[9]  tenant slots: at most this many leases at once in KEYS[4]; 0 = no tenant set
-- ARGV[10] lease ms
-- ARGV[11] grace ms: a registered wait lapses this long after the time it named
-- ARGV[12] poll ms: how soon a refused caller should ask again once a wait is due or a slot is taken
-- ARGV[13] owner: the caller's instance id; a process never yields to waits it registered itself
--          (its own queue orders its classes)
-- ARGV[14] the learned version the caller holds ('' = it names none); behind the lane's, the buckets
--          its learned limits name drain at their limit (capacities stay the caller's)
-- ARGV[15] n, the number of buckets; then 6 values per bucket i (from ARGV[16 + 6 * (i - 1)]):
--          id, limit (units per window), window ms, capacity (units), margin (units), cost (units)
-- Returns  {code, wait, index, version, level 1, ..., level n [, trip message, trip code]}, integers but
--          the trip's strings: code 0 = charged (wait 0, index 0); 1 = refused, fits after wait, index =
--          1-based bucket with the longest wait (index 1 on code 0: this admission is a trip's probe); 2 = never fits (cost above the capacity of bucket index,
--          wait 0); 3 = cooling down for wait (index 0); 4 = tripped until the next probe in wait (the
--          trip's message and code follow the levels); 5 = a higher class waits (index = its rank + 1);
--          6 = every slot of the lane is leased; 7 = every slot of the tenant's set is leased (index
--          0; the tenant waits, no wait is registered). wait is in ns (ms x 1e6, rounded up); version =
--          the learned limits' version (0: none); level i = milli-units in use in bucket i after the
--          call, rounded up (what the store falls back on if Redis becomes unreachable). Integers,
--          because Redis truncates Lua numbers to integers on the way out and formatting strings costs
--          more.
local key = KEYS[1]
local t = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local now = redis.call('TIME')
  t = tonumber(now[1]) * 1000 + tonumber(now[2]) / 1000
end
local idle = tonumber(ARGV[3])
local rank = tonumber(ARGV[4])
local own = tonumber(ARGV[5])
local slot = ARGV[7]
local laneSlots = tonumber(ARGV[8])
local tenantSlots = tonumber(ARGV[9])
local grace = tonumber(ARGV[11])
local poll = tonumber(ARGV[12])
local me = ARGV[13]
local n = tonumber(ARGV[15])
local B = 16

local fields = { 'cd', 'w0', 'w1', 'o0', 'o1' }
for i = 1, n do
  local id = ARGV[B + 6 * (i - 1)]
  fields[2 * i + 4] = 'l:' .. id
  fields[2 * i + 5] = 't:' .. id
end
local stored = redis.call('HMGET', key, unpack(fields))
local shared = redis.call('HMGET', KEYS[2], 'v', 'tp', 'ti')
local version = tonumber(shared[1]) or 0

--- @include drained
--- @include learned
local newer = learnedLimits(KEYS[2], tonumber(ARGV[14]), version)

-- Each bucket's level now, and the reply's copy of it.
local limits, windows, costs, levels, out = {}, {}, {}, {}, {}
for i = 1, n do
  local base = B + 6 * (i - 1)
  local limit = newer and newer[ARGV[base]] or tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  limits[i] = limit
  windows[i] = window
  costs[i] = tonumber(ARGV[base + 5])
  local level = drained(stored[2 * i + 4], stored[2 * i + 5], t, limit, window)
  levels[i] = level
  out[i] = math.ceil(level * 1000)
end

local cd = tonumber(stored[1]) or 0
if cd > t then
  return { 3, math.ceil((cd - t) * 1e6), 0, version, unpack(out) }
end

local probeAt = tonumber(shared[2])
if probeAt ~= nil and probeAt > t then
  local trip = redis.call('HMGET', KEYS[2], 'tm', 'tc')
  out[n + 1] = trip[1] or ''
  out[n + 2] = trip[2] or ''
  return { 4, math.ceil((probeAt - t) * 1e6), 0, version, unpack(out) }
end

-- A higher class waits in another process: lower classes yield until it should have fitted, then
-- poll, until it lapses.
for r = 0, math.min(rank, 2) - 1 do
  local due = tonumber(stored[2 + r])
  if due ~= nil then
    if t >= due + grace then
      redis.call('HDEL', key, 'w' .. r, 'o' .. r)
      stored[2 + r] = false
    elseif stored[4 + r] ~= me then
      local wait = poll
      if due > t then wait = due - t end
      return { 5, math.ceil(wait * 1e6), r + 1, version, unpack(out) }
    end
  end
end

-- The longest wait over the buckets; a cost above a capacity never fits.
local worst = 0
local blocked = 0
for i = 1, n do
  local cost = costs[i]
  local level = levels[i]
  if cost > 0 then
    local base = B + 6 * (i - 1)
    local capacity = tonumber(ARGV[base + 3])
    if cost > capacity then
      return { 2, 0, i, version, unpack(out) }
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

-- Slots: the tenant's own set first (when it is full the tenant waits, not the lane), then the lane's.
-- The wait is until the first lease lapses, at most poll (a slot released elsewhere sends no signal).
local function full(set, max)
  redis.call('ZREMRANGEBYSCORE', set, '-inf', t)
  if redis.call('ZCARD', set) < max then return 0 end
  local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  return math.min(tonumber(first[2]) - t, poll)
end
local code = 1
if worst == 0 and slot ~= '' and tenantSlots > 0 then
  worst = full(KEYS[4], tenantSlots)
  if worst > 0 then
    return { 7, math.ceil(worst * 1e6), 0, version, unpack(out) }
  end
end
if worst == 0 and slot ~= '' and laneSlots > 0 then
  worst = full(KEYS[3], laneSlots)
  if worst > 0 then
    blocked = n + 1
    code = 6
  end
end

if worst > 0 then
  -- Interactive and default register their wait on the lane's own buckets and slots.
  if rank < 2 and blocked > own then
    local due = t + worst
    local prior = tonumber(stored[2 + rank])
    if prior == nil or due > prior or t >= prior + grace then
      redis.call('HSET', key, 'w' .. rank, due, 'o' .. rank, me)
      if redis.call('PTTL', key) < worst + grace then
        redis.call('PEXPIRE', key, math.ceil(worst + grace + idle))
      end
    end
  end
  if code == 6 then blocked = 0 end
  return { code, math.ceil(worst * 1e6), blocked, version, unpack(out) }
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
    local id = ARGV[B + 6 * (i - 1)]
    writes[#writes + 1] = 'l:' .. id
    writes[#writes + 1] = level
    writes[#writes + 1] = 't:' .. id
    writes[#writes + 1] = t
    out[i] = math.ceil(level * 1000)
  end
  ttl = math.max(ttl, windows[i], level * windows[i] / limits[i])
end
if ARGV[6] == '1' and rank < 2 and stored[4 + rank] == me then
  redis.call('HDEL', key, 'w' .. rank, 'o' .. rank)
end
local lease = tonumber(ARGV[10])
if slot ~= '' and tenantSlots > 0 then
  redis.call('ZADD', KEYS[4], t + lease, slot)
  redis.call('PEXPIRE', KEYS[4], math.ceil(2 * lease))
  writes[#writes + 1] = 's:' .. KEYS[4]
  writes[#writes + 1] = 1
end
if #writes > 0 then
  redis.call('HSET', key, unpack(writes))
  redis.call('PEXPIRE', key, math.ceil(ttl))
end
if slot ~= '' and laneSlots > 0 then
  redis.call('ZADD', KEYS[3], t + lease, slot)
  redis.call('PEXPIRE', KEYS[3], math.ceil(2 * lease))
end
if probeAt ~= nil then
  -- This admission is the trip's probe; the next one goes an interval later.
  redis.call('HSET', KEYS[2], 'tp', t + (tonumber(shared[3]) or 60000))
  return { 0, 0, 1, version, unpack(out) }
end
return { 0, 0, 0, version, unpack(out) }
