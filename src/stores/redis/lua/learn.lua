-- learn: read a lane's learned limits, or replace them if the caller's version is the stored one
-- (compare and set), so that a writer that has not seen a newer learning cannot overwrite it.
-- KEYS[1]  the lane's shared hash: v (version, absent = 0), r (the learned limits, JSON)
-- ARGV[1]  the version the caller holds
-- ARGV[2]  the new learned limits (JSON), or '' to read only
-- ARGV[3]  ttl ms of the shared hash (refreshed by a write)
-- Returns  {applied (1 or 0), version now, the learned limits now (JSON, or '' for none)}
local key = KEYS[1]
local stored = redis.call('HMGET', key, 'v', 'r')
local version = tonumber(stored[1]) or 0
if ARGV[2] ~= '' and tonumber(ARGV[1]) == version then
  version = version + 1
  redis.call('HSET', key, 'v', version, 'r', ARGV[2])
  redis.call('PEXPIRE', key, tonumber(ARGV[3]))
  return { 1, version, ARGV[2] }
end
return { 0, version, stored[2] or '' }
