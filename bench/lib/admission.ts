/**
 * Part 1: admission decisions per second in memory.
 *
 * One decision = "may a request costing 1 request and t tokens go now on this lane, under an RPM and a
 * TPM limit?", taking the current time from the clock on every call. Each library does that work its own
 * way:
 * - Sluice: `MemoryStore.reserve()` with a requests bucket and a tokens bucket (all-or-nothing).
 * - `limiter`: two `RateLimiter`s, `rpm.tryRemoveTokens(1) && tpm.tryRemoveTokens(t)` (synchronous;
 *   not atomic: a TPM refusal leaves the request token spent).
 * - `rate-limiter-flexible`: two `RateLimiterMemory`s, `await rpm.consume(key, 1)` then
 *   `await tpm.consume(key, t)`; a refusal is a rejected promise (fixed windows, not a bucket).
 *
 * Variants: limits so high that every decision admits, and limits so low that (after the first few
 * hundred) every decision refuses.
 */
import { RateLimiter } from 'limiter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { systemClock } from '../../src/engine/clock.js';
import { bucket, MINUTE_MS, type CostVector } from '../../src/engine/limits.js';
import { MemoryStore } from '../../src/engine/memory-store.js';
import { between, prng } from './prng.js';
import { fmt, median, pct } from './stats.js';
import { table } from './table.js';

export interface AdmissionOptions {
  /** Decisions timed per run. */
  n: number;
  /** Decisions run untimed first, per library and variant. */
  warmup: number;
  /** Timed runs per library and variant; the median is reported. */
  repeats: number;
}

interface Limits {
  rpm: number;
  tpm: number;
}

const VARIANTS: readonly { name: string; limits: Limits }[] = [
  // Never binding: every decision admits.
  { name: 'admit', limits: { rpm: 1e12, tpm: 1e15 } },
  // 600 requests per minute: the first 600 (plus 10 per second) admit, the rest refuse.
  { name: 'refuse', limits: { rpm: 600, tpm: 200_000 } },
];

/** Token costs drawn once from a seeded generator, cycled through by every library. */
const TOKENS: readonly number[] = (() => {
  const random = prng(1);
  return Array.from({ length: 1024 }, () => between(random, 20, 2000));
})();
const COSTS: readonly CostVector[] = TOKENS.map((tokens) => ({ requests: 1, tokens }));

interface Result {
  admitted: number;
  ms: number;
}

type Runner = (limits: Limits, n: number) => Result | Promise<Result>;

function sluice(limits: Limits, n: number): Result {
  const store = new MemoryStore();
  const buckets = [bucket('requests', limits.rpm, MINUTE_MS), bucket('tokens', limits.tpm, MINUTE_MS)];
  const clock = systemClock;
  let admitted = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (store.reserve('bench-lane', buckets, COSTS[i & 1023]!, clock.now()).ok) admitted++;
  }
  return { admitted, ms: performance.now() - start };
}

function limiter(limits: Limits, n: number): Result {
  const rpm = new RateLimiter({ tokensPerInterval: limits.rpm, interval: 'minute' });
  const tpm = new RateLimiter({ tokensPerInterval: limits.tpm, interval: 'minute' });
  let admitted = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    if (rpm.tryRemoveTokens(1) && tpm.tryRemoveTokens(TOKENS[i & 1023]!)) admitted++;
  }
  return { admitted, ms: performance.now() - start };
}

async function flexible(limits: Limits, n: number): Promise<Result> {
  const rpm = new RateLimiterMemory({ points: limits.rpm, duration: 60, keyPrefix: 'rpm' });
  const tpm = new RateLimiterMemory({ points: limits.tpm, duration: 60, keyPrefix: 'tpm' });
  let admitted = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    try {
      await rpm.consume('bench-lane', 1);
      await tpm.consume('bench-lane', TOKENS[i & 1023]!);
      admitted++;
    } catch {
      // Refused: the promise rejects with a RateLimiterRes.
    }
  }
  return { admitted, ms: performance.now() - start };
}

const LIBRARIES: readonly { name: string; api: string; run: Runner }[] = [
  { name: 'Sluice', api: 'MemoryStore.reserve() (sync)', run: sluice },
  { name: 'limiter', api: 'RateLimiter.tryRemoveTokens() ×2 (sync)', run: limiter },
  { name: 'rate-limiter-flexible', api: 'RateLimiterMemory.consume() ×2 (promise)', run: flexible },
];

export async function benchAdmission(options: AdmissionOptions): Promise<string> {
  const { n, warmup, repeats } = options;
  // Warm every path first so that no library is measured while still being optimised.
  for (const variant of VARIANTS) for (const lib of LIBRARIES) await lib.run(variant.limits, warmup);

  const results = new Map<string, Result[]>();
  for (let r = 0; r < repeats; r++) {
    for (const variant of VARIANTS) {
      // Rotate the order per repeat so that no library always runs first (noisy shared machine).
      for (let k = 0; k < LIBRARIES.length; k++) {
        const lib = LIBRARIES[(k + r) % LIBRARIES.length]!;
        const key = `${variant.name}|${lib.name}`;
        const list = results.get(key) ?? [];
        list.push(await lib.run(variant.limits, n));
        results.set(key, list);
      }
    }
  }

  const rows: string[][] = [];
  for (const variant of VARIANTS) {
    const base = median(results.get(`${variant.name}|Sluice`)!.map((x) => n / (x.ms / 1000)));
    for (const lib of LIBRARIES) {
      const list = results.get(`${variant.name}|${lib.name}`)!;
      const opsPerSec = list.map((x) => n / (x.ms / 1000));
      const med = median(opsPerSec);
      rows.push([
        variant.name,
        lib.name,
        lib.api,
        pct(median(list.map((x) => x.admitted / n))),
        fmt(med),
        fmt(1e9 / med, 1),
        `${fmt(med / base, 2)}×`,
        opsPerSec.map((x) => fmt(x / 1e6, 2)).join(' / '),
      ]);
    }
  }
  return [
    `${fmt(n)} decisions per run (RPM + TPM buckets, one lane, clock read per decision), ${fmt(warmup)} warm-up, median of ${repeats} runs`,
    '',
    table(
      [
        'variant',
        'library',
        'API',
        { title: 'admitted', align: 'right' },
        { title: 'ops/s (median)', align: 'right' },
        { title: 'ns/op', align: 'right' },
        { title: 'vs Sluice', align: 'right' },
        { title: 'runs (M ops/s)', align: 'right' },
      ],
      rows,
    ),
  ].join('\n');
}
