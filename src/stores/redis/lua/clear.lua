-- clear: forget a lane's state (operator reset): levels, cooldown, waits, trip and leases; learned
-- limits stay.
-- KEYS[1]  the lane's state hash
-- KEYS[2]  the lane's shared hash (the trip's fields go; v and r, the learned limits, stay)
-- KEYS[3]  the lane's leases
-- Returns  the number of state and lease keys removed (0 to 2)
redis.call('HDEL', KEYS[2], 'tp', 'ti', 'tm', 'tc')
return redis.call('DEL', KEYS[1], KEYS[3])
