/**
 * `bench:redis`'s distributed runs: three processes (redis-worker.ts) share one lane on the emulator
 * through one Redis.
 *
 * - Accuracy: how much of the limit they used together, whether any window (the burst included) saw more
 *   than the limit allows, how far from the theoretical minimum they finished, and what share of attempts
 *   the emulator answered 429.
 * - Priority: a flood of small `batch` requests and a few large `interactive` ones on one lane, in one
 *   process or in two, with and without a class between them; how long the interactive ones waited.
 * - Outage: Redis is killed for a few seconds in the middle of the run and started again (empty), once per
 *   fallback; what the three admitted meanwhile, against what the limit allows for that span.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createFetch, type SluiceFetch } from '../../src/index.js';
import { startMock, type MockServer } from '../../src/mock/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';
import type { WorkerResult, WorkerTask } from './redis-worker.js';

const WORKER = fileURLToPath(new URL('./redis-worker.ts', import.meta.url));

/** A redis-server on a free port, without persistence, that can be killed and started again. */
export interface KillableRedis {
  url: string;
  kill(): Promise<void>;
  start(): Promise<void>;
}

export async function killableRedis(): Promise<KillableRedis> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  let proc: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      proc = p;
      let out = '';
      p.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      p.once('error', (err) => reject(new Error(`Could not start redis-server (${err.message}).`)));
      p.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
  const kill = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, kill, start };
}

interface Worker {
  ready: Promise<void>;
  result: Promise<WorkerResult>;
  go(): void;
  kill(): void;
}

function worker(task: WorkerTask): Worker {
  const proc = fork(WORKER, [], { execArgv: ['--import', 'tsx'] });
  let onReady!: () => void;
  let onResult!: (r: WorkerResult) => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let killed = false;
  const result = new Promise<WorkerResult>((resolve, reject) => {
    onResult = resolve;
    proc.once(
      'exit',
      (code) => code !== 0 && !killed && reject(new Error(`bench worker exited with ${code}`)),
    );
  });
  result.catch(() => {});
  proc.on('message', (m: { ready?: boolean; result?: WorkerResult }) => {
    if (m.ready) onReady();
    if (m.result) onResult(m.result);
  });
  proc.send(task);
  return {
    ready,
    result,
    go: () => proc.send('go'),
    kill: () => {
      killed = true;
      proc.kill('SIGKILL');
    },
  };
}

export interface Workload {
  /** Requests per minute of the emulator (the only binding limit). */
  rpm: number;
  /** The emulator's burst, seconds of the rate. */
  burstSeconds: number;
  /** Requests per process. */
  perProcess: number;
  processes: number;
  concurrency: number;
}

export interface AccuracyResult {
  /** Wall time from "go" to the last answer, ms. */
  ms: number;
  /** (requests − burst) ÷ rate, ms. */
  minimumMs: number;
  ok: number;
  failed: number;
  received: number;
  rejected: number;
  /** Admitted ÷ (burst + rate × span): how much of the limit was used. */
  used: number;
  /** The most admitted in any run of whole seconds, against what the limit allows for it (≤ 1 is within). */
  worstWindow: { seconds: number; admitted: number; allowed: number };
}

/** The largest (admitted ÷ allowed) over every run of consecutive whole seconds. */
function worstWindow(
  perSecond: readonly { second: number; requests: number }[],
  capacity: number,
  perSec: number,
): AccuracyResult['worstWindow'] {
  let worst = { seconds: 0, admitted: 0, allowed: 1 };
  const counts = new Map(perSecond.map((s) => [s.second, s.requests]));
  const first = Math.min(...counts.keys());
  const last = Math.max(...counts.keys());
  for (let a = first; a <= last; a++) {
    let sum = 0;
    for (let b = a; b <= last; b++) {
      sum += counts.get(b) ?? 0;
      // A run of k whole seconds spans up to k seconds: the burst plus k seconds of the rate.
      const allowed = capacity + perSec * (b - a + 1);
      if (sum / allowed > worst.admitted / worst.allowed)
        worst = { seconds: b - a + 1, admitted: sum, allowed };
    }
  }
  return worst;
}

async function runWorkers(
  mock: MockServer,
  redisUrl: string,
  w: Workload,
  onOutage: WorkerTask['onOutage'],
  during?: (startedAt: number) => Promise<void>,
): Promise<{ results: WorkerResult[]; startedAt: number }> {
  const prefix = `sluice-bench-dist:${randomBytes(4).toString('hex')}:`;
  const warm = await startMock({});
  const workers = Array.from({ length: w.processes }, () =>
    worker({
      base: mock.url,
      warmBase: warm.url,
      redisUrl,
      prefix,
      count: w.perProcess,
      concurrency: w.concurrency,
      onOutage,
    }),
  );
  await Promise.all(workers.map((x) => x.ready));
  await warm.close();
  const startedAt = Date.now();
  for (const x of workers) x.go();
  const side = during?.(startedAt);
  const results = await Promise.all(workers.map((x) => x.result));
  await side;
  return { results, startedAt };
}

export async function benchAccuracy(redisUrl: string, w: Workload): Promise<AccuracyResult> {
  const mock = await startMock({ rpm: w.rpm, tpm: 100_000_000, burstSeconds: w.burstSeconds });
  try {
    const { results, startedAt } = await runWorkers(mock, redisUrl, w, 'local-share');
    const stats = mock.stats();
    const perSec = w.rpm / 60;
    const capacity = perSec * w.burstSeconds;
    const total = w.perProcess * w.processes;
    const end = Math.max(...results.map((r) => r.lastAt));
    const ms = end - startedAt;
    return {
      ms,
      minimumMs: ((total - capacity) / perSec) * 1000,
      ok: results.reduce((s, r) => s + r.ok, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      received: stats.received,
      rejected: stats.rejected.total,
      used: stats.admitted / (capacity + (perSec * ms) / 1000),
      worstWindow: worstWindow(stats.perSecond, capacity, perSec),
    };
  } finally {
    await mock.close();
  }
}

export interface OutageResult {
  onOutage: WorkerTask['onOutage'];
  outageMs: number;
  /** Requests the three processes sent while Redis was down (the emulator's `received`). */
  sent: number;
  /** Of those, answered 429 by the emulator. */
  rejectedDown: number;
  /** What the limit allows for that span: the burst plus the rate. */
  allowed: number;
  /** What three processes that each took the whole limit could have sent (processes × allowed). */
  failOpen: number;
  rejected: number;
  ok: number;
  failed: number;
}

export async function benchOutage(
  w: Workload,
  onOutage: WorkerTask['onOutage'],
  downAfterMs: number,
  downForMs: number,
): Promise<OutageResult> {
  const redis = await killableRedis();
  const mock = await startMock({ rpm: w.rpm, tpm: 100_000_000, burstSeconds: w.burstSeconds });
  let sentDown = 0;
  let rejectedDown = 0;
  let outageMs = 0;
  try {
    const { results } = await runWorkers(mock, redis.url, w, onOutage, async (startedAt) => {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + downAfterMs - Date.now())));
      await redis.kill();
      const before = mock.stats();
      const downAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, downForMs));
      const after = mock.stats();
      sentDown = after.received - before.received;
      rejectedDown = after.rejected.total - before.rejected.total;
      outageMs = Date.now() - downAt;
      await redis.start();
    });
    const perSec = w.rpm / 60;
    const allowed = perSec * w.burstSeconds + (perSec * outageMs) / 1000;
    const stats = mock.stats();
    return {
      onOutage,
      outageMs,
      sent: sentDown,
      rejectedDown,
      allowed,
      failOpen: allowed * w.processes,
      rejected: stats.rejected.total,
      ok: results.reduce((s, r) => s + r.ok, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
    };
  } finally {
    await mock.close();
    await redis.kill();
  }
}

export interface PriorityRow {
  setup: string;
  /** Each interactive request's wait for admission, ms. */
  waits: number[];
  /** Flood requests the emulator received while the interactive ones waited, in all. */
  floodMeanwhile: number;
}

/**
 * Five interactive requests (about 600 tokens each), one every 400 ms, while a flood of small requests
 * (about 50 tokens) keeps the lane full: 60,000 TPM with a 1 s burst. `where`: the flood in the same
 * process (the engine's own queue orders them), or in another process at `batch`, or in another process
 * in the same class as the interactive requests (no priority between them).
 */
export async function benchPriority(
  redisUrl: string,
  where: 'same process' | 'other process' | 'other process, same class',
): Promise<PriorityRow> {
  const mock = await startMock({ rpm: 1_000_000, tpm: 60_000, burstSeconds: 1 });
  const prefix = `sluice-bench-prio:${randomBytes(4).toString('hex')}:`;
  const store = createRedisStore({ url: redisUrl, prefix });
  const queuedAt = new Map<number, [number, number]>();
  const waits: number[] = [];
  let floodMeanwhile = 0;
  const f: SluiceFetch = createFetch({
    store,
    onEvent: (e) => {
      if (e.type === 'queued' && e.priority === 'interactive')
        queuedAt.set(e.id, [e.at, mock.stats().received]);
      if (e.type === 'admitted' && queuedAt.has(e.id)) {
        const [at, received] = queuedAt.get(e.id)!;
        waits.push(e.at - at);
        floodMeanwhile += mock.stats().received - received;
      }
    },
  });
  const ask = (priority: string, maxTokens: number, i: number) =>
    f(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-bench-prio',
        'content-type': 'application/json',
        'x-sluice-priority': priority,
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `question ${i}` }],
        max_tokens: maxTokens,
      }),
    }).then((r) => r.arrayBuffer());
  let stop = false;
  let flood: Worker | undefined;
  const floods: Promise<void>[] = [];
  try {
    await ask('default', 5, -1); // warm-up, and the lane's limits learned
    if (where === 'same process') {
      let i = 0;
      for (let k = 0; k < 32; k++)
        floods.push(
          (async () => {
            while (!stop) await ask('batch', 40, i++);
          })(),
        );
    } else {
      const warm = await startMock({});
      flood = worker({
        base: mock.url,
        warmBase: warm.url,
        redisUrl,
        prefix,
        // About 10 s of the lane: it outlasts the interactive requests unless they wait for all of it.
        count: 200,
        concurrency: 32,
        onOutage: 'local-share',
        priority: where === 'other process' ? 'batch' : 'interactive',
        maxTokens: 40,
        apiKey: 'sk-bench-prio',
      });
      await flood.ready;
      await warm.close();
      flood.go();
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    for (let i = 0; i < 5; i++) {
      await ask('interactive', 600, i);
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  } finally {
    stop = true;
    flood?.kill();
    await Promise.allSettled(floods);
    await f.engine.close();
    await mock.close();
  }
  return { setup: where, waits, floodMeanwhile };
}
