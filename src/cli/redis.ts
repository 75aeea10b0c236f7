/**
 * `--redis <url>` for every command: a shared Redis store whose outages are told on stderr as they
 * begin and end (what the store does meanwhile is in docs/redis.md). The Redis client library is loaded
 * only by a command that uses it, so that the others start (and run) without it.
 */
import type { Redis } from 'ioredis';
import type { RedisStore } from '../stores/redis/index.js';

/** `undefined` when the URL is usable, else what is wrong with it. */
export function redisUrlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--redis ${JSON.stringify(url)} is not a URL; expected e.g. redis://127.0.0.1:6379.`;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `--redis must be a redis:// or rediss:// URL; got ${parsed.protocol}//….`;
  }
  return undefined;
}

/** Opens the store; `say` hears every change of its status (outage, back to Redis). */
export async function openRedisStore(
  url: string,
  say: (line: string) => void,
  prefix: string,
): Promise<RedisStore> {
  const { createRedisStore } = await import('../stores/redis/index.js');
  return createRedisStore({
    url,
    prefix,
    onStatus: (change) =>
      say(
        change.status === 'redis'
          ? `Redis answers again: limits are shared again (${change.processes} processes).`
          : `Redis stopped answering (${change.reason}): ${change.status === 'local-share' ? `each process now keeps to 1/${change.processes || 1} of every limit` : 'admissions wait until it is back'}.`,
      ),
  });
}

/** A plain client, for the gateway's response cache in Redis. */
export async function redisClient(url: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  return new Redis(url);
}
