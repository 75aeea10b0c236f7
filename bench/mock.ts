/**
 * Peak throughput of `sluice mock` on loopback, no latency: N concurrent keep-alive clients hammer it
 * for a fixed time per scenario and the table shows requests/s, latency percentiles and the server
 * process's CPU use (100% = one core saturated; below that, the load generator is the bottleneck).
 * "req/s per server core" = req/s ÷ server CPU: what one saturated core of the emulator would serve.
 *
 * The emulator runs in its own process (the CLI, through tsx), so client and server do not share an
 * event loop. Total run time stays under 10 s.
 *
 *   npm run bench:mock                 # default scenarios
 *   npm run bench:mock -- --seconds 2  # longer measurement per scenario
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { cpus } from 'node:os';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { table } from './lib/table.js';

const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg === -1 ? 1 : Number(process.argv[secondsArg + 1]);
const WARMUP_MS = 250;
/** A fresh server's first load runs cold (JIT); each server gets this much load before its first scenario. */
const SERVER_WARMUP_MS = 600;

interface Scenario {
  name: string;
  concurrency: number;
  path: string;
  body: string;
  /** Extra `sluice mock` flags (limits) for this scenario's server. */
  flags: string[];
}

const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there!' }] });
const chatStream = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Hello there!' }],
  stream: true,
  stream_options: { include_usage: true },
});
const UNLIMITED = ['--rpm', '0', '--tpm', '0'];

const SCENARIOS: Scenario[] = [
  { name: 'chat JSON', concurrency: 1, path: '/v1/chat/completions', body: chat, flags: UNLIMITED },
  { name: 'chat JSON', concurrency: 16, path: '/v1/chat/completions', body: chat, flags: UNLIMITED },
  { name: 'chat JSON', concurrency: 64, path: '/v1/chat/completions', body: chat, flags: UNLIMITED },
  {
    name: 'chat SSE (16 tokens)',
    concurrency: 64,
    path: '/v1/chat/completions',
    body: chatStream,
    flags: UNLIMITED,
  },
  {
    name: 'chat, 429s (RPM 600)',
    concurrency: 64,
    path: '/v1/chat/completions',
    body: chat,
    flags: ['--rpm', '600'],
  },
];

type Server = ChildProcessByStdio<null, Readable, null>;

async function startServer(flags: string[]): Promise<{ child: Server; port: number }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'mock', '--port', '0', '--seed', '1', ...flags],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      const match = /^listening on http:\/\/[^:]+:(\d+)\n/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`sluice mock exited with ${code}`)));
  });
  return { child, port };
}

/** CPU seconds (user + system) a process has used, from /proc; undefined off Linux. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

interface Result {
  requests: number;
  ok: number;
  limited: number;
  seconds: number;
  latencies: number[];
  cpu: number | undefined;
}

async function run(
  s: Scenario,
  port: number,
  pid: number,
  warmupMs = WARMUP_MS,
  seconds = SECONDS,
): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: s.concurrency });
  const body = Buffer.from(s.body);
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: s.path,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': body.length,
            authorization: 'Bearer sk-bench',
          },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  let measuring = false;
  let stop = false;
  const result: Result = { requests: 0, ok: 0, limited: 0, seconds: 0, latencies: [], cpu: undefined };
  const worker = async (): Promise<void> => {
    while (!stop) {
      const started = performance.now();
      const status = await once();
      if (!measuring) continue;
      result.requests += 1;
      if (status === 200) result.ok += 1;
      else if (status === 429) result.limited += 1;
      result.latencies.push(performance.now() - started);
    }
  };
  const workers = Array.from({ length: s.concurrency }, worker);
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const cpuBefore = cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  measuring = false;
  result.seconds = (performance.now() - t0) / 1000;
  const cpuAfter = cpuSeconds(pid);
  if (cpuBefore !== undefined && cpuAfter !== undefined) result.cpu = (cpuAfter - cpuBefore) / result.seconds;
  stop = true;
  await Promise.all(workers);
  agent.destroy();
  return result;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

// One server per distinct set of flags, all started at once (start-up is most of the fixed cost).
const servers = new Map<string, Promise<{ child: Server; port: number }>>();
for (const s of SCENARIOS) {
  const key = s.flags.join(' ');
  if (!servers.has(key)) servers.set(key, startServer(s.flags));
}
const rows: string[][] = [];
const warmed = new Set<number>();
try {
  for (const s of SCENARIOS) {
    const server = await servers.get(s.flags.join(' '))!;
    if (!warmed.has(server.port)) {
      await run(s, server.port, server.child.pid!, SERVER_WARMUP_MS, 0);
      warmed.add(server.port);
    }
    const r = await run(s, server.port, server.child.pid!);
    const sorted = r.latencies.sort((a, b) => a - b);
    rows.push([
      s.name,
      String(s.concurrency),
      Math.round(r.requests / r.seconds).toLocaleString('en-US'),
      r.limited > 0
        ? `${Math.round((100 * r.limited) / r.requests)}% 429`
        : `${r.ok === r.requests ? 'all 200' : `${r.ok} ok`}`,
      percentile(sorted, 50).toFixed(2),
      percentile(sorted, 99).toFixed(2),
      r.cpu === undefined ? 'n/a' : `${Math.round(r.cpu * 100)}%`,
      r.cpu === undefined || r.cpu === 0
        ? 'n/a'
        : Math.round(r.requests / r.seconds / r.cpu).toLocaleString('en-US'),
    ]);
  }
} finally {
  for (const server of servers.values()) void server.then(({ child }) => child.kill('SIGTERM'));
}

console.log(
  `sluice mock throughput, ${SECONDS}s per scenario after ${WARMUP_MS}ms warm-up; Node.js ${process.version}, ` +
    `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
);
console.log();
console.log(
  table(
    [
      'scenario',
      { title: 'clients', align: 'right' },
      { title: 'req/s', align: 'right' },
      { title: 'answers', align: 'right' },
      { title: 'p50 ms', align: 'right' },
      { title: 'p99 ms', align: 'right' },
      { title: 'server CPU', align: 'right' },
      { title: 'req/s per server core', align: 'right' },
    ],
    rows,
  ),
);
