/**
 * Where entries live: in this process's memory, bounded by bytes (least recently used go first), or in
 * Redis, shared by every process that points at it (each entry with its TTL, entries over a size cap
 * not stored). Both answer the same narrow interface.
 */
import { LRUCache } from 'lru-cache';
import type { CachedAnswer } from './entry.js';

export interface CacheBackend {
  get(key: string): Promise<CachedAnswer | undefined>;
  set(key: string, entry: CachedAnswer, ttlMs: number): Promise<void>;
  close?(): Promise<void>;
}

export interface MemoryBackendOptions {
  /** The most bytes all entries may take together. @default 67108864 (64 MiB) */
  maxBytes?: number;
}

export function memoryBackend(options: MemoryBackendOptions = {}): CacheBackend {
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const lru = new LRUCache<string, CachedAnswer>({
    maxSize: maxBytes,
    sizeCalculation: (entry) => Math.max(1, entry.bytes),
    ttlAutopurge: false,
  });
  return {
    get: (key) => Promise.resolve(lru.get(key)),
    set: (key, entry, ttlMs) => {
      if (entry.bytes <= maxBytes) lru.set(key, entry, { ttl: ttlMs });
      return Promise.resolve();
    },
  };
}

/** The Redis commands the backend calls (an ioredis client has them). */
export interface RedisCacheClient {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, px: 'PX', ms: number): Promise<unknown>;
  quit?(): Promise<unknown>;
}

export interface RedisBackendOptions {
  client: RedisCacheClient;
  /** Key namespace. @default 'sluice:' */
  prefix?: string;
  /** Entries above this many bytes are not stored. @default 1048576 (1 MiB) */
  maxEntryBytes?: number;
}

/**
 * Entries in Redis under `<prefix>cache:<key>`, as JSON, each expiring with its TTL. A Redis that does
 * not answer makes a miss (and a lost store), never an error for the request.
 */
export function redisBackend(options: RedisBackendOptions): CacheBackend {
  const prefix = `${options.prefix ?? 'sluice:'}cache:`;
  const maxEntryBytes = options.maxEntryBytes ?? 1024 * 1024;
  return {
    async get(key) {
      try {
        const text = await options.client.get(prefix + key);
        return text === null ? undefined : (JSON.parse(text) as CachedAnswer);
      } catch {
        return undefined;
      }
    },
    async set(key, entry, ttlMs) {
      const text = JSON.stringify(entry);
      if (Buffer.byteLength(text) > maxEntryBytes) return;
      try {
        await options.client.set(prefix + key, text, 'PX', Math.max(1, Math.round(ttlMs)));
      } catch {
        // A lost store is a later miss.
      }
    },
    async close() {
      await options.client.quit?.().catch(() => undefined);
    },
  };
}
