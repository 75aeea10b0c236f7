-- learned: for a caller holding learned version `learned` (nil: it names none) behind the lane's
-- version (`version`, or read from the shared hash `shared` when nil), the limit of each bucket the
-- lane's learned limits name (by bucket id, from the hash's JSON `r`); nil for any other caller, which
-- drains buckets at the limits it passes. A stale process must not drain a shared level at its older,
-- higher rate. Mirrors drainingAs in src/engine/store.ts. Included by `--- @include learned`.
local function learnedLimits(shared, learned, version)
  if learned == nil then
    return nil
  end
  version = version or tonumber(redis.call('HGET', shared, 'v')) or 0
  if learned >= version then
    return nil
  end
  local json = redis.call('HGET', shared, 'r')
  if not json then
    return nil
  end
  local limits = {}
  for _, b in ipairs(cjson.decode(json).buckets or {}) do
    limits[b.id] = b.limit
  end
  return limits
end
