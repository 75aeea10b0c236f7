-- drained: a bucket's level as stored (HMGET's level and time, false when absent), drained to t at
-- `limit` units per `window` ms; 0 when nothing is stored. Included by `--- @include drained`.
local function drained(stored, at, t, limit, window)
  local level = tonumber(stored)
  at = tonumber(at)
  if level == nil or at == nil then
    return 0
  end
  return math.max(0, level - math.max(0, (t - at) * limit / window))
end
