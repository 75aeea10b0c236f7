/**
 * Sluice: stay under LLM API rate limits.
 *
 * The public face of the library. Everything not exported here is internal.
 */
export {
  createFetch,
  errorResponse,
  type CreateFetchOptions,
  type SluiceFetch,
} from './fetch/create-fetch.js';
export { createEngine, Engine } from './engine/engine.js';
export type {
  AttemptInfo,
  AttemptResult,
  CostEstimate,
  EngineRequest,
  Execution,
  LaneRef,
} from './engine/request.js';
export {
  ENGINE_DEFAULTS,
  type EngineOptions,
  type LimitsConfig,
  type Settlement,
  type TenantLimitsFunction,
} from './engine/options.js';
export type { LaneMode, LaneStats } from './engine/lane.js';
export type { BucketStats } from './engine/types.js';
export type { TenantStats } from './engine/tenant.js';
export { laneId, parseLaneId } from './engine/lane-id.js';
export {
  SluiceError,
  QuotaExhaustedError,
  RateLimitedError,
  RequestTooLargeError,
  DeadlineExceededError,
  QueueFullError,
  UpstreamError,
  InvalidOptionError,
  isSluiceError,
  sluiceErrorOf,
  ERROR_CODES,
  type ErrorCode,
  type SluiceErrorDetails,
} from './engine/errors.js';
export { PRIORITIES, type EventListener, type Priority, type SluiceEvent } from './engine/events.js';
export { ManualClock, systemClock, type Clock } from './engine/clock.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './engine/retry.js';
export {
  PRIORITY_RANK,
  type Claim,
  type LaneSnapshot,
  type Learned,
  type LearnedLimits,
  type Reservation,
  type Store,
  type TripRecord,
} from './engine/store.js';
export type { BucketSpec, CostVector } from './engine/limits.js';
export { MemoryStore, type MemoryStoreOptions } from './engine/memory-store.js';
export { estimateCost, type RequestCost, type Usage } from './engine/cost.js';
export { parseServerView } from './engine/headers.js';
export { classify, classifyStreamEvent } from './engine/classify.js';
export type {
  Classification,
  Outcome,
  ServerView,
  BucketView,
  QuotedUsage,
  Dimension,
} from './engine/types.js';
export { formatGoDuration, parseGoDuration } from './formats/duration.js';
export { ResponseCache, CACHE_DEFAULTS, type CacheOptions, type CacheStats } from './cache/cache.js';
export {
  memoryBackend,
  redisBackend,
  type CacheBackend,
  type MemoryBackendOptions,
  type RedisBackendOptions,
  type RedisCacheClient,
} from './cache/backend.js';
export type { CachedAnswer } from './cache/entry.js';
