/**
 * `npm run bench:batch`: how close `sluice batch` comes to the theoretical minimum time of a workload,
 * with given and with learned limits, side by side in the same run with the `openai` SDK's own retries
 * at a fixed concurrency and with `bottleneck` in front of the SDK; then the peak memory of a
 * 1,000,000-line `--dry-run`, of a `--resume` over a million finished lines, and of sending a million
 * lines.
 *
 * The emulator runs as its own process (`sluice mock`), a fresh one per client, so the clients do not
 * share its event loop. It charges each request `ceil(prompt chars / 4) + max_tokens` tokens at
 * admission, so the workload's cost, and the least time any client can take, are known in advance:
 * max over dimensions of (total cost − burst capacity) ÷ rate.
 *
 *   npm run bench:batch               # everything, about 10 minutes (5 of them sending 1,000,000 lines)
 *   npm run bench:batch -- --quick    # 500 lines, and 100,000 for the memory part
 *   npm run bench:batch -- --part 2   # only the memory part (1: goodput, 2: memory)
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Bottleneck from 'bottleneck';
import OpenAI from 'openai';
import { memory } from './lib/batch-memory.js';
import { runCli, startMockProcess } from './lib/cli-process.js';
import { between, prng } from './lib/prng.js';
import { fmt, pct } from './lib/stats.js';
import { table } from './lib/table.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const partArg = args[args.indexOf('--part') + 1];
const parts = args.includes('--part') && partArg ? partArg.split(',').map(Number) : [1, 2];

const O = {
  lines: quick ? 500 : 2000,
  rpm: 3000,
  tpm: 300_000,
  burstSeconds: 3,
  latencyMs: 200,
  seed: 42,
  promptChars: [40, 360] as const,
  maxTokens: [16, 150] as const,
  /** In-flight requests of the SDK-alone and bottleneck clients. */
  concurrency: 64,
  memoryLines: quick ? 100_000 : 1_000_000,
};

/** The emulator of the goodput part: the limits and latency above. */
const MOCK_FLAGS = [
  '--rpm',
  String(O.rpm),
  '--tpm',
  String(O.tpm),
  '--burst-seconds',
  String(O.burstSeconds),
  '--latency-ms',
  String(O.latencyMs),
  '--seed',
  String(O.seed),
];

const WORDS =
  'the river runs past old stone mills where grain was ground for bread and the water turns wheels that nobody needs any more yet people come to watch'.split(
    ' ',
  );

interface Job {
  id: string;
  body: { model: string; messages: { role: 'user'; content: string }[]; max_tokens: number };
  /** What the emulator charges at admission. */
  tokens: number;
}

function workload(): Job[] {
  const random = prng(O.seed);
  return Array.from({ length: O.lines }, (_, i) => {
    const chars = between(random, O.promptChars[0], O.promptChars[1]);
    let prompt = `Request ${i}:`;
    while (prompt.length < chars) prompt += ` ${WORDS[Math.floor(random() * WORDS.length)]!}`;
    prompt = prompt.slice(0, chars);
    const maxTokens = between(random, O.maxTokens[0], O.maxTokens[1]);
    return {
      id: `line-${i + 1}`,
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens },
      tokens: Math.ceil(prompt.length / 4) + maxTokens,
    };
  });
}

function minimum(jobs: readonly Job[]) {
  const tokens = jobs.reduce((s, j) => s + j.tokens, 0);
  const burst = O.burstSeconds / 60;
  const byRequests = Math.max(0, jobs.length - O.rpm * burst) / (O.rpm / 60);
  const byTokens = Math.max(0, tokens - O.tpm * burst) / (O.tpm / 60);
  return { seconds: Math.max(byRequests, byTokens), tokens, byRequests, byTokens };
}

interface Result {
  client: string;
  succeeded: number;
  failed: number;
  rejected: number;
  received: number;
  wallS: number;
  note: string;
}

async function sluiceBatch(name: string, input: string, dir: string, limits: string[]): Promise<Result> {
  const mock = await startMockProcess(MOCK_FLAGS);
  try {
    const output = join(dir, `${name.replace(/\W+/g, '-')}.jsonl`);
    const start = performance.now();
    const r = await runCli([
      'batch',
      input,
      '--output',
      output,
      '--base-url',
      mock.url,
      '--quiet',
      ...limits,
    ]);
    const wallS = (performance.now() - start) / 1000;
    const succeeded = readFileSync(output, 'utf8').split('\n').length - 1;
    const stats = await mock.stats();
    return {
      client: name,
      succeeded,
      failed: O.lines - succeeded,
      rejected: stats.rejected.total,
      received: stats.received,
      wallS,
      note: r.code === 0 ? '' : `exit ${r.code}`,
    };
  } finally {
    mock.close();
  }
}

async function sdkClient(
  name: string,
  jobs: readonly Job[],
  send: (client: OpenAI, job: Job) => Promise<unknown>,
): Promise<Result> {
  const mock = await startMockProcess(MOCK_FLAGS);
  try {
    const client = new OpenAI({ baseURL: mock.url, apiKey: 'sk-bench', maxRetries: 2 });
    const failures = new Map<string, number>();
    let succeeded = 0;
    const start = performance.now();
    await Promise.all(
      jobs.map((job) =>
        send(client, job).then(
          () => void succeeded++,
          (err: unknown) => {
            const code =
              err instanceof OpenAI.APIError
                ? `${err.status ?? ''} ${err.code ?? err.type ?? ''}`.trim()
                : String(err);
            failures.set(code, (failures.get(code) ?? 0) + 1);
          },
        ),
      ),
    );
    const wallS = (performance.now() - start) / 1000;
    const stats = await mock.stats();
    return {
      client: name,
      succeeded,
      failed: jobs.length - succeeded,
      rejected: stats.rejected.total,
      received: stats.received,
      wallS,
      note: [...failures].map(([code, n]) => `${n} × ${code}`).join(', '),
    };
  } finally {
    mock.close();
  }
}

/** At most `n` at once, in order. */
function pool(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

async function goodput(): Promise<string> {
  const jobs = workload();
  const min = minimum(jobs);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-batch-'));
  const input = join(dir, 'in.jsonl');
  writeFileSync(
    input,
    jobs
      .map((j) =>
        JSON.stringify({ custom_id: j.id, method: 'POST', url: '/v1/chat/completions', body: j.body }),
      )
      .join('\n') + '\n',
  );
  const avgTokens = min.tokens / jobs.length;
  // A careful bottleneck set-up: space requests for whichever limit binds at the average cost.
  const minTime = Math.ceil(Math.max(60_000 / O.rpm, (60_000 * avgTokens) / O.tpm));

  const results: Result[] = [];
  const log = (r: Result) => {
    results.push(r);
    process.stderr.write(
      `  ${r.client}: ${r.wallS.toFixed(2)} s, ${r.succeeded} succeeded, ${r.rejected} 429s\n`,
    );
  };
  log(
    await sluiceBatch('sluice batch --rpm --tpm', input, dir, [
      '--rpm',
      String(O.rpm),
      '--tpm',
      String(O.tpm),
    ]),
  );
  log(await sluiceBatch('sluice batch (learned limits)', input, dir, []));
  const limit = pool(O.concurrency);
  log(
    await sdkClient(`openai SDK, maxRetries 2, ${O.concurrency} in flight`, jobs, (client, job) =>
      limit(() => client.chat.completions.create(job.body)),
    ),
  );
  const bottleneck = new Bottleneck({ maxConcurrent: O.concurrency, minTime });
  log(
    await sdkClient(`bottleneck (minTime ${minTime} ms) + SDK, maxRetries 2`, jobs, (client, job) =>
      bottleneck.schedule(() => client.chat.completions.create(job.body)),
    ),
  );
  rmSync(dir, { recursive: true, force: true });

  const head = [
    `${fmt(O.lines)} chat requests (seed ${O.seed}), prompts ${O.promptChars[0]}–${O.promptChars[1]} chars, max_tokens ${O.maxTokens[0]}–${O.maxTokens[1]}.`,
    `Emulator (\`sluice mock\`, its own process, a fresh one per client): ${fmt(O.rpm)} RPM, ${fmt(O.tpm)} TPM, ${O.burstSeconds} s burst, ${O.latencyMs} ms latency.`,
    `Workload cost: ${fmt(O.lines)} requests, ${fmt(min.tokens)} tokens. Theoretical minimum: ${min.seconds.toFixed(2)} s (requests ${min.byRequests.toFixed(2)} s, tokens ${min.byTokens.toFixed(2)} s).`,
    `sluice batch wall time is the whole process, start-up included.`,
  ].join('\n');
  const rows = results.map((r) => [
    r.client,
    fmt(r.succeeded),
    fmt(r.failed),
    fmt(r.rejected),
    pct(r.rejected / Math.max(1, r.received)),
    r.wallS.toFixed(2),
    `${(r.wallS / min.seconds).toFixed(3)}×`,
    r.note,
  ]);
  return `${head}\n\n${table(
    [
      'client',
      { title: 'succeeded', align: 'right' },
      { title: 'failed', align: 'right' },
      { title: '429s sent', align: 'right' },
      { title: '429s / attempts', align: 'right' },
      { title: 'wall s', align: 'right' },
      { title: 'wall ÷ minimum', align: 'right' },
      'failures',
    ],
    rows,
  )}`;
}

process.stderr.write(`Node.js ${process.version}, ${process.platform} ${process.arch}\n`);
if (parts.includes(1)) {
  process.stderr.write('goodput…\n');
  process.stdout.write(`### Goodput against the emulator\n\n${await goodput()}\n\n`);
}
if (parts.includes(2)) {
  process.stderr.write('memory…\n');
  process.stdout.write(`### Memory\n\n${await memory(O.memoryLines, O.seed)}\n`);
}
