/**
 * Part 3 of `bench:gateway`: goodput through `sluice serve` when the workload must be paced. A seeded
 * workload of chat requests against `sluice mock` limiting like OpenAI (its own process, a fresh one per
 * run), sent by `openai` SDK clients in separate processes:
 *
 * - through the gateway (learned limits: no `--rpm`/`--tpm`), one process with every request;
 * - through the gateway, eight processes sharing one key, each with an eighth of the workload;
 * - the same eight processes calling the emulator directly, with the SDK's own retries.
 *
 * The emulator charges `ceil(prompt chars / 4) + max_tokens` at admission, so the least time any client
 * can take is known in advance (see goodput.ts). Attempts and 429s come from the emulator's counters.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { MockStats } from '../../src/mock/index.js';
import type { ClientJob, ClientResult } from './goodput-client.js';
import { startMockProcess, startServeProcess } from './gateway-latency.js';
import { theoreticalMinimum, workload } from './goodput.js';
import type { Started } from './procs.js';
import { fmt, pct } from './stats.js';
import { table } from './table.js';

export interface GatewayGoodputOptions {
  requests: number;
  /** Client processes of the many-processes runs. */
  processes: number;
  /** In flight in all (split between the processes). */
  inFlight: number;
  rpm: number;
  tpm: number;
  burstSeconds: number;
  latencyMs: number;
  seed: number;
  promptChars: [number, number];
  maxTokens: [number, number];
  /** The SDK's `maxRetries` when it calls the emulator directly. */
  directRetries: number;
  timeoutMs: number;
  placement: { generator: string; proxy: string } | undefined;
}

const CLIENT = fileURLToPath(new URL('./goodput-client.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  name: string;
  processes: number;
  results: ClientResult[];
  wallMs: number;
  stats: MockStats;
}

/**
 * Starts `n` client processes, waits until every one is loaded and warmed up, runs `beforeStart`, then
 * starts them together.
 */
async function clients(
  n: number,
  job: Omit<ClientJob, 'index' | 'of' | 'inFlight'>,
  inFlight: number,
  cpus: string | undefined,
  beforeStart: () => Promise<void>,
): Promise<{ results: ClientResult[]; wallMs: number }> {
  const children = Array.from({ length: n }, (_, index) => {
    const args = ['--import', 'tsx', CLIENT, JSON.stringify({ ...job, index, of: n, inFlight })];
    const [command, argv] =
      cpus === undefined ? [process.execPath, args] : ['taskset', ['-c', cpus, process.execPath, ...args]];
    const child = spawn(command, argv, { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<void>((resolve) => lines.once('line', () => resolve()));
    const result = new Promise<ClientResult>((resolve, reject) => {
      lines.on('line', (line) => {
        if (line.startsWith('{')) resolve(JSON.parse(line) as ClientResult);
      });
      child.once('exit', (code) =>
        reject(new Error(`A client process exited with ${code} before it reported a result.`)),
      );
    });
    return { child, ready, result };
  });
  await Promise.all(children.map((c) => c.ready));
  await beforeStart();
  const start = performance.now();
  for (const c of children) c.child.stdin.end('go\n');
  const results = await Promise.all(children.map((c) => c.result));
  return { results, wallMs: performance.now() - start };
}

async function mockStats(mock: Started): Promise<MockStats> {
  const res = await fetch(`${mock.origin}/__mock/stats`);
  return (await res.json()) as MockStats;
}

export async function benchGatewayGoodput(o: GatewayGoodputOptions): Promise<string> {
  const jobs = workload(o);
  const min = theoreticalMinimum(jobs, o);
  const mockFlags = [
    '--rpm',
    String(o.rpm),
    '--tpm',
    String(o.tpm),
    '--burst-seconds',
    String(o.burstSeconds),
    '--latency-ms',
    String(o.latencyMs),
  ];
  const base = {
    apiKey: 'sk-bench-goodput',
    requests: o.requests,
    seed: o.seed,
    promptChars: o.promptChars,
    maxTokens: o.maxTokens,
    timeoutMs: o.timeoutMs,
  };

  const runs: Run[] = [];
  const run = async (
    name: string,
    processes: number,
    gatewayFlags: readonly string[] | undefined,
    maxRetries: number,
  ) => {
    const mock = await startMockProcess(mockFlags, o.placement?.generator);
    let gateway: Started | undefined;
    try {
      if (gatewayFlags)
        gateway = await startServeProcess(mock.origin, o.placement?.proxy, { flags: gatewayFlags });
      const baseURL = `${(gateway ?? mock).origin}/v1`;
      const { results, wallMs } = await clients(
        processes,
        { ...base, baseURL, maxRetries },
        Math.max(1, Math.round(o.inFlight / processes)),
        o.placement?.generator,
        // The clients' warm-up requests (GET /v1/models) are not the workload's: counters start afresh.
        async () => void (await fetch(`${mock.origin}/__mock/reset`, { method: 'POST' })),
      );
      runs.push({ name, processes, results, wallMs, stats: await mockStats(mock) });
    } finally {
      await gateway?.stop();
      await mock.stop();
    }
  };
  const per = Math.round(o.inFlight / o.processes);
  const given = ['--rpm', String(o.rpm), '--tpm', String(o.tpm)];
  await run(`sluice serve; 1 process, ${o.inFlight} in flight, maxRetries 0`, 1, [], 0);
  await run(`sluice serve; ${o.processes} processes × ${per} in flight, maxRetries 0`, o.processes, [], 0);
  await run(
    `sluice serve ${given.join(' ')}; ${o.processes} processes × ${per} in flight, maxRetries 0`,
    o.processes,
    given,
    0,
  );
  await run(
    `direct; ${o.processes} processes × ${per} in flight, maxRetries ${o.directRetries}`,
    o.processes,
    undefined,
    o.directRetries,
  );

  const rows = runs.map((r) => {
    const succeeded = r.results.reduce((s, c) => s + c.succeeded, 0);
    const failures = new Map<string, number>();
    for (const c of r.results)
      for (const [code, n] of Object.entries(c.failures)) failures.set(code, (failures.get(code) ?? 0) + n);
    return [
      r.name,
      fmt(succeeded),
      fmt(jobs.length - succeeded),
      fmt(r.stats.received),
      fmt(r.stats.rejected.total),
      pct(r.stats.rejected.total / Math.max(1, r.stats.received), 1),
      fmt(r.wallMs / 1000, 2),
      `${fmt(r.wallMs / 1000 / min.seconds, 3)}×`,
      [...failures].map(([code, n]) => `${fmt(n)} × ${code}`).join(', '),
    ];
  });

  const verdicts = runs.slice(0, 3).map((r) => {
    const succeeded = r.results.reduce((s, c) => s + c.succeeded, 0);
    const within = r.wallMs / 1000 <= min.seconds * 1.05;
    const few429 = r.stats.rejected.total <= r.stats.received * 0.01;
    const all = succeeded === jobs.length;
    const v = (met: boolean) => (met ? 'met' : 'NOT met');
    return `${r.name}: every request succeeds: ${v(all)}; wall within 5% of the minimum: ${v(within)}; ≤ 1% of attempts answered 429: ${v(few429)}.`;
  });

  const missed = runs.slice(0, 3).filter((r) => r.wallMs / 1000 > min.seconds * 1.05);
  const timelines = missed.map((r) => timeline(r, o));
  return [
    `${fmt(jobs.length)} chat requests (seed ${o.seed}), prompts ${o.promptChars[0]}–${o.promptChars[1]} chars, max_tokens ${o.maxTokens[0]}–${o.maxTokens[1]}; \`openai\` SDK v6 clients, each in its own process, started together once all are loaded and have each sent as many \`GET /v1/models\` as they keep in flight (their warm-up: compiling the request path, opening connections; not rate limited, and the emulator's counters are reset after it).`,
    `Emulator: \`sluice mock\` in its own process, a fresh one per run: ${fmt(o.rpm)} RPM, ${fmt(o.tpm)} TPM, ${o.burstSeconds} s burst, ${o.latencyMs} ms latency. \`sluice serve\` (built CLI, own process) learns the limits from the headers unless given --rpm/--tpm. Every client sends the same API key.`,
    `Workload cost: ${fmt(jobs.length)} requests, ${fmt(min.totalTokens)} tokens. Theoretical minimum: ${fmt(min.seconds, 2)} s (requests ${fmt(min.byDimension.requests, 2)} s, tokens ${fmt(min.byDimension.tokens, 2)} s). Wall time runs from the start signal to the last process's result.`,
    '',
    table(
      [
        'clients',
        { title: 'succeeded', align: 'right' },
        { title: 'failed', align: 'right' },
        { title: 'attempts', align: 'right' },
        { title: '429s', align: 'right' },
        { title: '429s / attempts', align: 'right' },
        { title: 'wall s', align: 'right' },
        { title: 'wall ÷ minimum', align: 'right' },
        'failures',
      ],
      rows,
    ),
    '',
    ...verdicts,
    ...timelines,
  ].join('\n');
}

/** What the emulator admitted per second (its own counters), against its rates: where a run lost time. */
function timeline(r: Run, o: GatewayGoodputOptions): string {
  const seconds = r.stats.perSecond;
  const first = seconds[0]?.second ?? 0;
  const rows = seconds.map((s) => [
    `${s.second - first}`,
    fmt(s.requests),
    pct(s.requests / (o.rpm / 60), 0),
    fmt(s.tokens),
    pct(s.tokens / (o.tpm / 60), 0),
  ]);
  return [
    '',
    `${r.name}, admitted by the emulator per wall-clock second (the first and last partial):`,
    '',
    table(
      [
        'second',
        { title: 'requests', align: 'right' },
        { title: 'of RPM rate', align: 'right' },
        { title: 'tokens', align: 'right' },
        { title: 'of TPM rate', align: 'right' },
      ],
      rows,
    ),
  ].join('\n');
}
