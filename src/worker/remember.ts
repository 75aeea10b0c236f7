/**
 * Finished `custom_id`s, remembered for a window so that a redelivered message (its worker died after
 * publishing the result, before the broker heard the ack) is acknowledged without calling the API
 * again. In Redis when workers share one (every worker of a queue sees what the others finished), else
 * in this process only. The Redis client library loads only when a worker uses Redis.
 */

export interface Finished {
  /** Whether `customId` finished on `queue` within the window. */
  has(queue: string, customId: string): Promise<boolean>;
  /** Remembers `customId` as finished on `queue` for `ttlMs`. */
  add(queue: string, customId: string, ttlMs: number): Promise<void>;
  close(): Promise<void>;
}

/** In this process: a map of expiry times, swept as it grows. */
export function memoryFinished(now: () => number = Date.now): Finished {
  const until = new Map<string, number>();
  let sweepAt = 1024;
  const key = (queue: string, id: string) => `${queue}\u0000${id}`;
  return {
    has: async (queue, id) => (until.get(key(queue, id)) ?? 0) > now(),
    add: async (queue, id, ttlMs) => {
      until.set(key(queue, id), now() + ttlMs);
      if (until.size < sweepAt) return;
      const t = now();
      for (const [k, u] of until) if (u <= t) until.delete(k);
      sweepAt = Math.max(1024, 2 * until.size);
    },
    close: async () => {},
  };
}

/** In Redis: one key per finished id, `<prefix>worker:done:<queue>:<custom_id>`, expiring with the window. */
export async function redisFinished(url: string, prefix: string): Promise<Finished> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  // Errors reach the callers of has/add; the client itself must not crash the process.
  redis.on('error', () => {});
  const key = (queue: string, id: string) => `${prefix}worker:done:${queue}:${id}`;
  return {
    has: async (queue, id) => (await redis.exists(key(queue, id))) === 1,
    add: async (queue, id, ttlMs) => {
      await redis.set(key(queue, id), '1', 'PX', Math.max(1, Math.round(ttlMs)));
    },
    close: async () => {
      redis.disconnect();
    },
  };
}
