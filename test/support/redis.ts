/**
 * Redis for tests: the shared server on 127.0.0.1:6379 (CI starts it) with a fresh key prefix per test,
 * a client that counts round trips, and a test-owned `redis-server` on a free port that a test may kill
 * and start again.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type { RedisScriptClient } from '../../src/stores/redis/index.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** A client for the shared Redis; fails with a message that says how to start Redis when none answers. */
export async function sharedRedis(): Promise<Redis> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new Error(
      `These tests need Redis at ${REDIS_URL} and none answered (${(err as Error).message}). Start one with \`redis-server --port 6379 --save "" --appendonly no --daemonize yes\` (.ci/run does this in CI).`,
    );
  }
  return redis;
}

/** A key prefix no other test uses. */
export function freshPrefix(): string {
  return `sluice-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Every key under `prefix`. */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix`. */
export async function removeKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  if (keys.length > 0) await redis.del(...keys);
}

/** A client that counts the commands it sends (each is one round trip). */
export interface CountingClient extends RedisScriptClient {
  calls: { evalsha: number; eval: number };
  /** evalsha + eval */
  readonly total: number;
}

export function countingClient(redis: Redis): CountingClient {
  const calls = { evalsha: 0, eval: 0 };
  return {
    calls,
    get total() {
      return calls.evalsha + calls.eval;
    },
    evalsha(sha1, numKeys, ...args) {
      calls.evalsha++;
      return redis.evalsha(sha1, numKeys, ...args);
    },
    eval(script, numKeys, ...args) {
      calls.eval++;
      return redis.eval(script, numKeys, ...args);
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A `redis-server` this test owns, on a free port, without persistence. */
export interface OwnRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP: the connection stays open, nothing answers. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
}

export async function ownRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) resolve();
      };
      proc.stdout!.on('data', onData);
      proc.on('error', (err) =>
        reject(
          new Error(
            `Could not start redis-server (${err.message}); install it (apt-get install redis-server).`,
          ),
        ),
      );
      proc.on('exit', (code) =>
        reject(new Error(`redis-server on port ${port} exited (${code}): ${output}`)),
      );
    });
  };
  const kill = async () => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
    child = undefined;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    start,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
  };
}

/** Polls `check` every 20 ms until it is true; fails after `ms` with `what` in the message. */
export async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
