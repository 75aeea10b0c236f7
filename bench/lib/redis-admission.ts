/**
 * Admission decisions through Redis: one decision = "may a request costing 1 request and t tokens go now
 * on this lane?", answered by Redis. Every worker sends its next decision when the last one is answered;
 * `concurrency` workers run at once in a process, all on one lane (one API key shared by everybody).
 *
 * - `sluice`: the Redis store's `reserve()` (one Lua script: cooldown, every bucket, all or nothing).
 * - `rlf`: `rate-limiter-flexible`'s `RateLimiterRedis.consume()` (one Lua script per limiter; a fixed
 *   window, not a bucket). With RPM and TPM it takes two limiters, consumed together, not atomically.
 *
 * Commands sent are counted on the client (each is one request/response exchange with Redis).
 */
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { bucket, MINUTE_MS, type BucketSpec } from '../../src/engine/limits.js';
import type { Claim } from '../../src/engine/store.js';
import { createRedisStore, type RedisScriptClient } from '../../src/stores/redis/index.js';

export const SCENARIOS = {
  'sluice-rpm': { library: 'Sluice Redis store', limits: 'RPM' },
  'sluice-rpm-tpm': { library: 'Sluice Redis store', limits: 'RPM + TPM' },
  'sluice-rpm-tpm-autopipeline': {
    library: 'Sluice Redis store, auto-pipelining client',
    limits: 'RPM + TPM',
  },
  'rlf-rpm': { library: 'rate-limiter-flexible RateLimiterRedis', limits: 'RPM' },
  'rlf-rpm-tpm': { library: 'rate-limiter-flexible RateLimiterRedis ×2', limits: 'RPM + TPM' },
} as const;

export type Scenario = keyof typeof SCENARIOS;

export interface RunOptions {
  url: string;
  prefix: string;
  /** Timed decisions. */
  n: number;
  /** Workers in flight at once. */
  concurrency: number;
}

export interface RunResult {
  decisions: number;
  admitted: number;
  ms: number;
  /** Commands sent to Redis during the timed decisions. */
  commands: number;
}

const TOKENS = [120, 900, 40, 2000, 350, 75, 1200, 600];
const HIGH = 1e12;
/** The claim the engine sends with each reservation: its class, its identity and the learned version it holds. */
const CLAIM: Claim = { rank: 1, own: 0, last: true, owner: 'bench', learned: 1 };

type Decide = (i: number) => Promise<boolean>;

interface Subject {
  decide: Decide;
  commands(): number;
  close(): Promise<void>;
}

/** Counts every command the client sends (ioredis routes all of them through sendCommand). */
function counted(redis: Redis): () => number {
  let n = 0;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    n++;
    return send(...args);
  }) as Redis['sendCommand'];
  return () => n;
}

async function subject(scenario: Scenario, options: RunOptions): Promise<Subject> {
  const autopipeline = scenario === 'sluice-rpm-tpm-autopipeline';
  const redis = new Redis(options.url, { enableAutoPipelining: autopipeline });
  await redis.ping();
  const close = async () => void (await redis.quit());
  if (scenario.startsWith('sluice')) {
    let sent = 0;
    const client: RedisScriptClient = {
      evalsha: (...args) => (sent++, redis.evalsha(...args)),
      eval: (...args) => (sent++, redis.eval(...args)),
    };
    const store = createRedisStore({ client, prefix: options.prefix, heartbeatMs: 3_600_000 });
    const buckets: BucketSpec[] =
      scenario === 'sluice-rpm'
        ? [bucket('requests', HIGH, MINUTE_MS)]
        : [bucket('requests', HIGH, MINUTE_MS), bucket('tokens', HIGH, MINUTE_MS)];
    return {
      decide: async (i) =>
        (
          await store.reserve(
            'lane',
            buckets,
            { requests: 1, tokens: TOKENS[i % TOKENS.length]! },
            Date.now(),
            CLAIM,
          )
        ).ok,
      commands: () => sent,
      close: async () => {
        await store.close();
        await close();
      },
    };
  }
  const commands = counted(redis);
  const limiter = (name: string) =>
    new RateLimiterRedis({
      storeClient: redis,
      points: HIGH,
      duration: 60,
      keyPrefix: `${options.prefix}${name}`,
    });
  const rpm = limiter('rpm');
  const tpm = scenario === 'rlf-rpm-tpm' ? limiter('tpm') : undefined;
  const admit = () => true;
  const refuse = () => false;
  return {
    decide: (i) =>
      tpm
        ? Promise.all([rpm.consume('lane', 1), tpm.consume('lane', TOKENS[i % TOKENS.length]!)]).then(
            admit,
            refuse,
          )
        : rpm.consume('lane', 1).then(admit, refuse),
    commands,
    close,
  };
}

async function drive(decide: Decide, n: number, concurrency: number): Promise<number> {
  let next = 0;
  let admitted = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      if (await decide(i)) admitted++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return admitted;
}

/** Prepares a scenario (connects, warms up); `go()` runs the timed decisions. */
export async function prepare(
  scenario: Scenario,
  options: RunOptions,
): Promise<{ go(): Promise<RunResult> }> {
  const s = await subject(scenario, options);
  await drive(s.decide, Math.min(2000, options.n), options.concurrency);
  return {
    async go() {
      const before = s.commands();
      const started = performance.now();
      const admitted = await drive(s.decide, options.n, options.concurrency);
      const ms = performance.now() - started;
      const commands = s.commands() - before;
      await s.close();
      return { decisions: options.n, admitted, ms, commands };
    },
  };
}
