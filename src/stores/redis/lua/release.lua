-- release: give back a concurrency slot leased by reserve, in every set it was leased in (idempotent).
-- KEYS[1]  the lane's leases: sorted set, member = slot id, score = lease end (ms)
-- KEYS[2]  (optional) the tenant's leases on the lane, the same shape
-- ARGV[1]  the slot id
-- Returns  the number of sets the slot was leased in (0 to 2)
local removed = 0
for i = 1, #KEYS do
  removed = removed + redis.call('ZREM', KEYS[i], ARGV[1])
end
return removed
