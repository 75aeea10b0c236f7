-- untrip: end a lane's trip (a request succeeded).
-- KEYS[1]  the lane's shared hash
-- Returns  the number of trip fields removed
return redis.call('HDEL', KEYS[1], 'tp', 'ti', 'tm', 'tc')
