-- clear: forget a lane's state (operator reset): levels, cooldown, waits, trip and leases, the tenants'
-- leases too; learned limits stay.
-- KEYS[1]  the lane's state hash; its fields s:<key> name the tenants' lease sets on the lane (keys in the
--          lane's hash slot, written by reserve.lua), which go with it
-- KEYS[2]  the lane's shared hash (the trip's fields go; v and r, the learned limits, stay)
-- KEYS[3]  the lane's leases
-- Returns  the number of state and lease keys removed
redis.call('HDEL', KEYS[2], 'tp', 'ti', 'tm', 'tc')
local removed = 0
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, 2) == 's:' then
    removed = removed + redis.call('DEL', string.sub(field, 3))
  end
end
return removed + redis.call('DEL', KEYS[1], KEYS[3])
