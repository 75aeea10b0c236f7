/**
 * `sluice/redis`: limiter state in Redis, shared by every process that points at it.
 */
export { createRedisStore, RedisStore } from './store.js';
export {
  REDIS_STORE_DEFAULTS,
  type RedisStatusChange,
  type RedisStoreOptions,
  type RedisStoreStatus,
} from './options.js';
export type { RedisScriptClient } from './client.js';
