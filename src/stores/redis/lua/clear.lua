-- clear: forget a lane's state (operator reset).
-- KEYS[1]  the lane's state hash
-- Returns  the number of keys removed (0 or 1)
return redis.call('DEL', KEYS[1])
