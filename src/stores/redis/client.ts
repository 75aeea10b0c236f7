/**
 * The Redis client the store needs, declared structurally: only the two commands it calls. Any client
 * with these methods works (an `ioredis` `Redis` or `Cluster`, a test double, a wrapper that counts
 * round trips). When no client is given, the store makes its own `ioredis` client from `url`.
 */
import { Redis } from 'ioredis';

/** The commands the Redis store sends: every operation is one script. */
export interface RedisScriptClient {
  /** `EVALSHA sha1 numKeys key… arg…` */
  evalsha(sha1: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
  /** `EVAL script numKeys key… arg…` (after NOSCRIPT: runs the script and caches it in Redis) */
  eval(script: string, numKeys: number, ...keysAndArgs: (string | number)[]): Promise<unknown>;
}

/** A client the store made itself, and how to let it go. */
export interface OwnedClient {
  client: RedisScriptClient;
  close(): Promise<void>;
}

/**
 * Makes an `ioredis` client for the store. It keeps reconnecting for as long as it lives, does not resend
 * commands cut off by a dropped connection (the store has already answered those from its fallback), and
 * keeps its errors to itself: the store sees an outage through its own command timeouts and reports it
 * through `onStatus`.
 */
export function createOwnedClient(url: string): OwnedClient {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 1,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  });
  redis.on('error', () => {});
  return {
    client: redis,
    async close() {
      try {
        await Promise.race([redis.quit(), new Promise((resolve) => setTimeout(resolve, 500).unref())]);
      } catch {
        // Already disconnected.
      }
      redis.disconnect();
    },
  };
}
