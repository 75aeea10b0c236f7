/**
 * `npm run bench:redis`: admission decisions per second through Redis, from one process and from four
 * (child processes started together), Sluice's Redis store beside `rate-limiter-flexible`'s
 * `RateLimiterRedis`, on the same server in the same run; and commands sent per decision.
 *
 * By default the benchmark starts its own `redis-server` on a free port (no persistence), so that nothing
 * else on the machine talks to it; `--url redis://…` uses another. Options: `--quick` (smaller counts),
 * `--concurrency N` (workers per process, default 64), `--repeats N` (default 3; the median is shown),
 * `--part 1,2,3,4` (default all: 1 decisions per second, 2 distributed accuracy, 3 the outage run,
 * 4 priority across processes).
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { prepare, SCENARIOS, type RunOptions, type RunResult, type Scenario } from './lib/redis-admission.js';
import { benchAccuracy, benchOutage, benchPriority, type Workload } from './lib/redis-accuracy.js';
import { fmt, median, pct } from './lib/stats.js';
import { table } from './lib/table.js';

interface Args {
  url: string | undefined;
  quick: boolean;
  concurrency: number;
  repeats: number;
  parts: Set<number>;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = {
    url: undefined,
    quick: false,
    concurrency: 64,
    repeats: 3,
    parts: new Set([1, 2, 3, 4]),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value.`);
      return v;
    };
    if (arg === '--quick') args.quick = true;
    else if (arg === '--url') args.url = value();
    else if (arg === '--concurrency') args.concurrency = Number(value());
    else if (arg === '--repeats') args.repeats = Number(value());
    else if (arg === '--part' || arg === '--parts') {
      const v = value();
      const parts = v.split(',').map(Number);
      if (parts.some((p) => ![1, 2, 3, 4].includes(p)))
        throw new Error(`Expected --part to list parts from 1 to 4, like "--part 2,3"; got "${v}".`);
      args.parts = new Set(parts);
    } else
      throw new Error(
        `Unknown argument "${arg}". Use --url, --quick, --concurrency N, --repeats N, --part 1,2,3,4.`,
      );
  }
  if (!(args.concurrency >= 1) || !(args.repeats >= 1)) {
    throw new Error('Expected --concurrency and --repeats to be numbers from 1 up.');
  }
  return args;
}

// --- child process: prepares one scenario, runs it on "go", reports the result ---

interface ChildTask {
  scenario: Scenario;
  options: RunOptions;
}

if (process.env.SLUICE_BENCH_CHILD === '1') {
  process.once('message', (task: ChildTask) => {
    void prepare(task.scenario, task.options).then((run) => {
      process.send!({ ready: true });
      process.once('message', () => {
        void run.go().then((result) => {
          process.send!({ result });
          process.disconnect();
        });
      });
    });
  });
}

function child(task: ChildTask): { proc: ChildProcess; ready: Promise<void>; result: Promise<RunResult> } {
  const proc = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, SLUICE_BENCH_CHILD: '1' },
  });
  let onReady!: () => void;
  let onResult!: (r: RunResult) => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const result = new Promise<RunResult>((resolve, reject) => {
    onResult = resolve;
    proc.once('exit', (code) => code !== 0 && reject(new Error(`bench child exited with ${code}`)));
  });
  proc.on('message', (m: { ready?: boolean; result?: RunResult }) => {
    if (m.ready) onReady();
    if (m.result) onResult(m.result);
  });
  proc.send(task);
  return { proc, ready, result };
}

interface Measured {
  perSecond: number;
  commandsPerDecision: number;
}

async function inProcess(scenario: Scenario, options: RunOptions): Promise<Measured> {
  const run = await prepare(scenario, options);
  const r = await run.go();
  return { perSecond: (r.decisions / r.ms) * 1000, commandsPerDecision: r.commands / r.decisions };
}

async function inChildren(scenario: Scenario, options: RunOptions, count: number): Promise<Measured> {
  const children = Array.from({ length: count }, () => child({ scenario, options }));
  await Promise.all(children.map((c) => c.ready));
  const started = performance.now();
  for (const c of children) c.proc.send('go');
  const results = await Promise.all(children.map((c) => c.result));
  const ms = performance.now() - started;
  const decisions = results.reduce((s, r) => s + r.decisions, 0);
  const commands = results.reduce((s, r) => s + r.commands, 0);
  return { perSecond: (decisions / ms) * 1000, commandsPerDecision: commands / decisions };
}

async function ownServer(): Promise<{ url: string; stop(): void }> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    proc.once('error', (err) =>
      reject(new Error(`Could not start redis-server (${err.message}); pass --url.`)),
    );
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  return { url: `redis://127.0.0.1:${port}`, stop: () => proc.kill('SIGTERM') };
}

/** EVALSHA + EVAL calls and the µs Redis spent in them, from INFO commandstats. */
async function scriptStats(redis: Redis): Promise<{ calls: number; usec: number }> {
  const info = await redis.info('commandstats');
  const out = { calls: 0, usec: 0 };
  for (const [, , calls, usec] of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
    out.calls += Number(calls);
    out.usec += Number(usec);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const server = args.url ? undefined : await ownServer();
  const url = args.url ?? server!.url;
  const admin = new Redis(url);
  const cpus = os.cpus();
  const info = await admin.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  console.log(
    `# bench:redis — Node ${process.version}, Redis ${version}${server ? ' (own server, no persistence)' : ''}, ${os.platform()} ${os.arch()}, ${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}${args.quick ? ' (--quick)' : ''}; load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} at start`,
  );
  try {
    if (args.parts.has(1)) await partDecisions(args, url, admin);
    if (args.parts.has(2)) await partAccuracy(args, url);
    if (args.parts.has(3)) await partOutage(args);
    if (args.parts.has(4)) await partPriority(url);
  } finally {
    admin.disconnect();
    server?.stop();
  }
}

/** Part 1: admission decisions per second, Sluice beside rate-limiter-flexible, 1 and 4 processes. */
async function partDecisions(args: Args, url: string, admin: Redis): Promise<void> {
  console.log('\n## 1. Admission decisions per second');
  const n1 = args.quick ? 5000 : 30_000;
  const n4 = args.quick ? 2500 : 15_000;
  console.log(
    `\nOne lane, limits never binding (every decision admits). ${args.concurrency} decisions in flight per process; ${fmt(n1)} timed decisions in one process, ${fmt(n4)} in each of four. Median of ${args.repeats}.\n`,
  );
  const rows: string[][] = [];
  try {
    for (const scenario of Object.keys(SCENARIOS) as Scenario[]) {
      const one: Measured[] = [];
      const four: Measured[] = [];
      let evalsPerDecision = NaN;
      const usecPerDecision: number[] = [];
      for (let r = 0; r < args.repeats; r++) {
        const prefix = `sluice-bench:${randomBytes(4).toString('hex')}:`;
        const before = await scriptStats(admin);
        one.push(await inProcess(scenario, { url, prefix, n: n1, concurrency: args.concurrency }));
        const after = await scriptStats(admin);
        // The warm-up ran too: count it in.
        const decided = n1 + Math.min(2000, n1);
        evalsPerDecision = (after.calls - before.calls) / decided;
        usecPerDecision.push((after.usec - before.usec) / decided);
        four.push(await inChildren(scenario, { url, prefix, n: n4, concurrency: args.concurrency }, 4));
      }
      const { library, limits } = SCENARIOS[scenario];
      rows.push([
        library,
        limits,
        fmt(median(one.map((m) => m.perSecond))),
        fmt(median(four.map((m) => m.perSecond))),
        fmt(median(one.map((m) => m.commandsPerDecision)), 2),
        fmt(evalsPerDecision, 2),
        fmt(median(usecPerDecision), 1),
      ]);
    }
  } finally {
    await admin.flushdb();
  }
  console.log(
    table(
      [
        'library',
        'limits',
        { title: 'decisions/s, 1 process', align: 'right' },
        { title: 'decisions/s, 4 processes', align: 'right' },
        { title: 'commands sent / decision', align: 'right' },
        { title: 'scripts run / decision (server)', align: 'right' },
        { title: 'Redis µs / decision', align: 'right' },
      ],
      rows,
    ),
  );
  console.log(
    '\nRedis µs / decision: time Redis spent running the scripts (INFO commandstats), 1 process. Round trips: every command sent is one request/response exchange with Redis (the auto-pipelining client writes several at once, but each still waits for its own reply). `rate-limiter-flexible` with RPM and TPM sends two, and they are not atomic: a TPM refusal leaves the request counted.',
  );
}

/** The workload of parts 2 and 3: three processes, one lane, the emulator's requests-per-minute limit. */
function workload(args: Args): Workload {
  return args.quick
    ? { rpm: 3000, burstSeconds: 1, perProcess: 150, processes: 3, concurrency: 32 }
    : { rpm: 3000, burstSeconds: 1, perProcess: 400, processes: 3, concurrency: 32 };
}

/** Part 2: distributed accuracy of three processes sharing one lane through Redis. */
async function partAccuracy(args: Args, url: string): Promise<void> {
  const w = workload(args);
  const total = w.perProcess * w.processes;
  console.log(
    `\n## 2. Distributed accuracy\n\nThree processes, each createFetch() with the Redis store and its own third of ${fmt(total)} requests (${w.concurrency} at once), limits learned from the headers, on one lane of the emulator at ${fmt(w.rpm)} RPM with a ${w.burstSeconds} s burst (${fmt((w.rpm / 60) * w.burstSeconds)} at once, then ${fmt(w.rpm / 60)} a second).\n`,
  );
  const r = await benchAccuracy(url, w);
  console.log(
    table(
      [
        'processes',
        { title: 'requests', align: 'right' },
        { title: 'succeeded', align: 'right' },
        { title: 'wall time', align: 'right' },
        { title: 'theoretical minimum', align: 'right' },
        { title: 'vs minimum', align: 'right' },
        { title: 'limit used', align: 'right' },
        { title: 'attempts answered 429', align: 'right' },
        { title: 'worst window: admitted / allowed', align: 'right' },
      ],
      [
        [
          String(w.processes),
          fmt(total),
          fmt(r.ok),
          `${fmt(r.ms / 1000, 2)} s`,
          `${fmt(r.minimumMs / 1000, 2)} s`,
          `+${pct(r.ms / r.minimumMs - 1)}`,
          pct(r.used),
          `${fmt(r.rejected)} (${pct(r.rejected / Math.max(1, r.received), 2)})`,
          `${fmt(r.worstWindow.admitted)} / ${fmt(r.worstWindow.allowed)} in ${r.worstWindow.seconds} s`,
        ],
      ],
    ),
  );
  console.log(
    "\nLimit used: requests the emulator admitted ÷ (burst + rate × wall time). Worst window: over every run of consecutive whole seconds of the emulator's own per-second counts, the one closest to its allowance (burst + rate × seconds); the emulator answers 429 to anything beyond its bucket in any case.",
  );
}

/** Part 4: interactive requests beside a batch flood, in one process and across two. */
async function partPriority(url: string): Promise<void> {
  console.log(
    '\n## 4. Priority across processes\n\nOne lane at 60,000 TPM with a 1 s burst (1,000 tokens at once, then 1,000 a second), kept full by a flood of small requests (about 50 tokens, 32 at once); five interactive requests of about 600 tokens, one every 400 ms, from the benchmark process. Small requests fit first in a refilling bucket, so without a class between them the large ones wait for a gap the flood never leaves.\n',
  );
  const rows: string[][] = [];
  for (const where of ['same process', 'other process', 'other process, same class'] as const) {
    const r = await benchPriority(url, where);
    rows.push([
      where === 'same process'
        ? 'flood at batch, same process'
        : where === 'other process'
          ? 'flood at batch, another process'
          : 'flood at interactive, another process',
      fmt(median(r.waits)),
      fmt(Math.max(...r.waits)),
      fmt(r.floodMeanwhile / Math.max(1, r.waits.length), 1),
    ]);
  }
  console.log(
    table(
      [
        'setup',
        { title: 'interactive wait, median ms', align: 'right' },
        { title: 'max ms', align: 'right' },
        { title: 'flood requests sent meanwhile, per interactive', align: 'right' },
      ],
      rows,
    ),
  );
  console.log(
    '\nWait: from the interactive request joining its queue to its admission (engine events). An interactive request needs about 700 tokens free (its cost and the safety margin): 0.6 to 0.7 s of the rate when the flood has filled the bucket.',
  );
}

/** Part 3: Redis killed for a few seconds mid-run, once per fallback. */
async function partOutage(args: Args): Promise<void> {
  const w = workload(args);
  const downAfterMs = 3000;
  const downForMs = args.quick ? 3000 : 5000;
  console.log(
    `\n## 3. Redis outage\n\nThe same three processes and workload on a redis-server of the benchmark's own; ${downAfterMs / 1000} s after the start it is killed (SIGKILL), and started again, empty, ${downForMs / 1000} s later.\n`,
  );
  const rows: string[][] = [];
  for (const onOutage of ['local-share', 'fail-closed'] as const) {
    const r = await benchOutage(w, onOutage, downAfterMs, downForMs);
    rows.push([
      onOutage,
      `${fmt(r.outageMs / 1000, 2)} s`,
      fmt(r.sent),
      fmt(r.allowed),
      pct(r.sent / r.allowed),
      fmt(r.failOpen),
      fmt(r.rejectedDown),
      `${fmt(r.ok)} / ${fmt(w.perProcess * w.processes)}`,
    ]);
  }
  console.log(
    table(
      [
        'onOutage',
        { title: 'outage', align: 'right' },
        { title: 'sent while Redis was down', align: 'right' },
        { title: 'the limit allows', align: 'right' },
        { title: 'of the limit', align: 'right' },
        { title: 'each process on the whole limit', align: 'right' },
        { title: '429 while down', align: 'right' },
        { title: 'succeeded in the end', align: 'right' },
      ],
      rows,
    ),
  );
  console.log(
    '\nThe limit allows: burst + rate × outage. Each process on the whole limit: what three processes that each kept the whole limit locally (a fail-open or per-process fallback) could send, 3 × that. Sent: requests the emulator received from the three processes meanwhile.',
  );
}

if (process.env.SLUICE_BENCH_CHILD !== '1') {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
