-- release: give back a concurrency slot leased by reserve (idempotent).
-- KEYS[1]  the lane's leases: sorted set, member = slot id, score = lease end (ms)
-- ARGV[1]  the slot id
-- Returns  1 when the slot was leased, else 0
return redis.call('ZREM', KEYS[1], ARGV[1])
