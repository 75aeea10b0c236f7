/**
 * Separate `sluice batch` processes (spawned children of the built CLI) sharing one lane on the emulator
 * through Redis, each with a part of one workload: the shared Redis on 127.0.0.1:6379 with a fresh
 * prefix per test, or a redis-server this file owns when a test kills it. The emulator's own accounting
 * is the judge: what it admitted, what it refused with 429, and when.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFetch } from '../src/index.js';
import { startMock, type MockServer } from '../src/mock/index.js';
import { createRedisStore } from '../src/stores/redis/index.js';
import {
  chatLine,
  idCounts,
  launchBatch,
  readJsonl,
  startCountingProxy,
  tempDir,
  type CliRun,
  type CountingProxy,
} from './support/batch.js';
import { freshPrefix, ownRedis, REDIS_URL, removeKeys, sharedRedis, type OwnRedis } from './support/redis.js';

let redis: Redis;
let mock: MockServer | undefined;
let proxy: CountingProxy | undefined;
let server: OwnRedis | undefined;
const prefixes: string[] = [];
const children: CliRun[] = [];

beforeAll(async () => {
  redis = await sharedRedis();
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.child.exitCode === null) c.child.kill('SIGKILL');
  await proxy?.close();
  proxy = undefined;
  await mock?.close();
  mock = undefined;
  await server?.kill();
  server = undefined;
});

afterAll(async () => {
  if (!redis) return; // beforeAll said why
  for (const prefix of prefixes) await removeKeys(redis, prefix);
  redis.disconnect();
});

function prefix(): string {
  const p = freshPrefix();
  prefixes.push(p);
  return p;
}

/** An input file of `count` chat lines `<tag>-1` … (the body's `user` names the line). */
function input(dir: string, tag: string, count: number, maxTokens = 5): string {
  const path = join(dir, `${tag}.jsonl`);
  const lines = Array.from({ length: count }, (_, i) => chatLine(`${tag}-${i + 1}`, maxTokens));
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** Starts `sluice batch` on one part of the workload; the output goes to `<dir>/<tag>.out.jsonl`. */
function batch(dir: string, tag: string, file: string, base: string, extra: string[]): CliRun {
  const run = launchBatch([file, '--output', join(dir, `${tag}.out.jsonl`), '--base-url', base, ...extra]);
  children.push(run);
  return run;
}

function outputs(dir: string, tags: string[]): { ok: number; failed: number; ids: Map<string, number> } {
  let ok = 0;
  let failed = 0;
  for (const tag of tags) {
    ok += readJsonl(join(dir, `${tag}.out.jsonl`)).length;
    failed += readJsonl(join(dir, `${tag}.out.jsonl.errors.jsonl`)).length;
  }
  const files = tags.flatMap((t) => [join(dir, `${t}.out.jsonl`), join(dir, `${t}.out.jsonl.errors.jsonl`)]);
  return { ok, failed, ids: idCounts(...files) };
}

describe('sluice batch processes sharing one lane through Redis', () => {
  it('three processes with a third of the workload each never push the emulator over its limit', async () => {
    // 1,200 RPM with a 1 s burst: 20 at once, then 20 per second. 3 × 40 = 120 requests: the minimum is
    // (120 − 20) ÷ 20 = 5 s. Limits are learned from the emulator's headers and shared.
    mock = await startMock({ rpm: 1200, tpm: 10_000_000, burstSeconds: 1 });
    const dir = tempDir();
    const p = prefix();
    const tags = ['a', 'b', 'c'];
    const started = Date.now();
    const runs = tags.map((t) =>
      batch(dir, t, input(dir, t, 40), mock!.url, ['--redis', REDIS_URL, '--redis-prefix', p, '--quiet']),
    );
    const codes = await Promise.all(runs.map((r) => r.exit));
    const elapsed = Date.now() - started;
    expect(codes, runs.map((r) => r.stderr()).join('\n')).toEqual([0, 0, 0]);
    const out = outputs(dir, tags);
    expect(out.ok).toBe(120);
    expect([...out.ids.values()].every((n) => n === 1)).toBe(true);
    const stats = mock.stats();
    expect(stats.rejected.total).toBe(0);
    expect(stats.admitted).toBe(120);
    // Never faster than the limit allows: the emulator admitted 120 over at least the minimum's span
    // (its per-second counts include the burst second). Only a lower bound: a busy machine is slower.
    const seconds = stats.perSecond.filter((s) => s.requests > 0);
    expect(seconds.length).toBeGreaterThanOrEqual(5);
    for (const s of seconds) expect(s.requests).toBeLessThanOrEqual(40);
    expect(elapsed).toBeGreaterThanOrEqual(4500);
  });
});

/**
 * One process floods at `batch` priority with small requests; another sends large `interactive` ones.
 * Small requests always fit first in a refilling bucket, so without priority across processes the large
 * ones wait until the flood ends. Counted, not timed: how many flood requests reached the server while
 * each interactive request waited for admission (from its `queued` event to its `admitted` one).
 */
async function floodAndInteractive(
  floodPriority: string,
): Promise<{ between: number[]; outlasted: boolean }> {
  // 60,000 TPM with a 1 s burst: 1,000 tokens at once, 1,000 a second. Flood lines cost ~50 tokens
  // (about 20 a second), interactive ones ~600.
  mock = await startMock({ rpm: 100_000, tpm: 60_000, burstSeconds: 1 });
  proxy = await startCountingProxy(mock.url);
  const dir = tempDir();
  const p = prefix();
  const flood = batch(dir, 'f', input(dir, 'f', 400, 40), proxy.url, [
    '--redis',
    REDIS_URL,
    '--redis-prefix',
    p,
    '--priority',
    floodPriority,
    '--quiet',
  ]);
  const order = proxy.order;
  const queuedAt = new Map<number, number>();
  const between: number[] = [];
  const floodSince = (from: number) => order.slice(from).filter((u) => u.startsWith('f-')).length;
  const f = createFetch({
    store: createRedisStore({ url: REDIS_URL, prefix: p, commandTimeoutMs: 5000 }),
    onEvent: (e) => {
      if (e.type === 'queued') queuedAt.set(e.id, order.length);
      if (e.type === 'admitted') between.push(floodSince(queuedAt.get(e.id) ?? order.length));
    },
  });
  // Let the flood fill the lane first.
  while (order.length < 40) await new Promise((resolve) => setTimeout(resolve, 20));
  for (let i = 1; i <= 3 && flood.child.exitCode === null; i++) {
    const res = await f(`${proxy.url}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-test-cli',
        'content-type': 'application/json',
        'x-sluice-priority': 'interactive',
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `question i-${i}` }],
        max_tokens: 600,
        user: `i-${i}`,
      }),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
  }
  const outlasted = flood.child.exitCode === null;
  await f.engine.close();
  flood.child.kill('SIGKILL');
  return { between, outlasted };
}

describe('priority across processes', () => {
  it('admits interactive requests from one process ahead of a batch flood from another', async () => {
    const { between, outlasted } = await floodAndInteractive('batch');
    expect(outlasted, 'the flood was still running after the interactive requests').toBe(true);
    expect(between).toHaveLength(3);
    // The flood yields while the interactive request waits: only flood requests admitted before it
    // registered its wait, still on their way to the server, arrive meanwhile — a few (25 is more than
    // the flood gets in a second; without priority it is the rest of the flood, see the control).
    for (const n of between) expect(n).toBeLessThanOrEqual(25);
  });

  it('(control) with the flood in the same class, the large requests wait behind many small ones', async () => {
    // The flood may even end first: the interactive requests then waited for all of it.
    const { between } = await floodAndInteractive('interactive');
    expect(Math.max(...between)).toBeGreaterThan(30);
  });
});

describe('Redis killed and started again in the middle of a run', () => {
  it('loses nothing: every line succeeds once, each process keeps to its share while Redis is down, and the outage is told', async () => {
    server = await ownRedis();
    // 600 RPM with a 1 s burst: 10 at once, then 10 per second; 2 × 60 = 120 requests, about 11 s.
    mock = await startMock({ rpm: 600, tpm: 10_000_000, burstSeconds: 1 });
    proxy = await startCountingProxy(mock.url);
    const order = proxy.order;
    const dir = tempDir();
    const p = prefix();
    const tags = ['a', 'b'];
    const runs = tags.map((t) =>
      batch(dir, t, input(dir, t, 60), proxy!.url, ['--redis', server!.url, '--redis-prefix', p]),
    );
    // Both processes joined and are sending: kill Redis for about 3 s, then start it (empty) again.
    while (order.length < 30) await new Promise((resolve) => setTimeout(resolve, 20));
    await server.kill();
    const down = order.length;
    const downAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const during = order.slice(down);
    const outageMs = Date.now() - downAt;
    await server.start();
    const codes = await Promise.all(runs.map((r) => r.exit));
    const stderr = runs.map((r) => r.stderr()).join('\n');
    expect(codes, stderr).toEqual([0, 0]);
    const out = outputs(dir, tags);
    expect(out.ok).toBe(120);
    expect(out.failed).toBe(0);
    expect([...out.ids.values()].every((n) => n === 1)).toBe(true);
    // Each process kept to its local share, half of every limit (5 at once, then 5 a second; a request
    // admitted just before the kill may arrive just after it).
    for (const tag of tags) {
      const sent = during.filter((u) => u.startsWith(`${tag}-`)).length;
      expect(sent).toBeLessThanOrEqual(5 + Math.ceil((outageMs / 1000) * 5) + 2);
    }
    // Together within the limit but at the switch back: the processes notice Redis up to probeMs apart,
    // and meanwhile one decides in Redis while the other still holds its local share (docs/redis.md,
    // "What can still go over"). What the emulator refused stays within one burst, and was retried.
    expect(mock.stats().rejected.total).toBeLessThanOrEqual(10);
    expect(stderr).toMatch(/Redis stopped answering .*each process now keeps to 1\/2 of every limit/);
    expect(stderr).toMatch(/Redis answers again: limits are shared again/);
  });
});
