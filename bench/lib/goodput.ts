/**
 * Part 3: goodput. A fixed workload of chat requests of varied size, many in flight, through the
 * `openai` SDK against the emulator limiting like OpenAI, with no limits configured on the client side
 * (Sluice learns them from the headers). Compared in the same run with the plain SDK and its own retries,
 * each on a fresh emulator with the same settings.
 *
 * The emulator charges each request `ceil(prompt chars / 4) + max_tokens` tokens at admission, so the
 * workload's total cost is known before it runs, and so is the least time any client can take:
 * max over dimensions of (total cost − burst capacity) ÷ rate.
 */
import { setMaxListeners } from 'node:events';
import OpenAI from 'openai';
import type { SluiceEvent } from '../../src/engine/events.js';
import { createFetch } from '../../src/fetch/create-fetch.js';
import { startMock, type MockOptions, type MockStats } from '../../src/mock/index.js';
import { between, prng } from './prng.js';
import { fmt, pct } from './stats.js';
import { table } from './table.js';

export interface GoodputOptions {
  requests: number;
  inFlight: number;
  rpm: number;
  tpm: number;
  burstSeconds: number;
  latencyMs: number;
  seed: number;
  /** Prompt length in characters, drawn uniformly from this range. */
  promptChars: readonly [number, number];
  /** `max_tokens`, drawn uniformly from this range. */
  maxTokens: readonly [number, number];
  /** Requests still unanswered after this long are aborted and counted as failed (keeps the run bounded). */
  timeoutMs: number;
  /** Print the per-second timeline even when every target is met. */
  timeline: boolean;
}

export interface Job {
  prompt: string;
  maxTokens: number;
  /** What the emulator charges at admission. */
  tokens: number;
}

const WORDS =
  'the river runs past old stone mills where grain was ground for bread and the water turns wheels that nobody needs any more yet people come to watch'.split(
    ' ',
  );

/** The seeded workload: the same jobs on every run (and in every process) with the same options. */
export function workload(o: Pick<GoodputOptions, 'requests' | 'seed' | 'promptChars' | 'maxTokens'>): Job[] {
  const random = prng(o.seed);
  const jobs: Job[] = [];
  for (let i = 0; i < o.requests; i++) {
    const chars = between(random, o.promptChars[0], o.promptChars[1]);
    let prompt = `Request ${i}:`;
    while (prompt.length < chars) prompt += ` ${WORDS[Math.floor(random() * WORDS.length)]!}`;
    prompt = prompt.slice(0, chars);
    const maxTokens = between(random, o.maxTokens[0], o.maxTokens[1]);
    jobs.push({ prompt, maxTokens, tokens: Math.ceil(prompt.length / 4) + maxTokens });
  }
  return jobs;
}

export interface Minimum {
  seconds: number;
  totalTokens: number;
  byDimension: { requests: number; tokens: number };
}

/** The least time any client can take: max over dimensions of (total cost − burst capacity) ÷ rate. */
export function theoreticalMinimum(
  jobs: readonly Job[],
  o: Pick<GoodputOptions, 'rpm' | 'tpm' | 'burstSeconds'>,
): Minimum {
  const totalTokens = jobs.reduce((sum, j) => sum + j.tokens, 0);
  const burst = o.burstSeconds / 60;
  const requests = Math.max(0, jobs.length - o.rpm * burst) / (o.rpm / 60);
  const tokens = Math.max(0, totalTokens - o.tpm * burst) / (o.tpm / 60);
  return { seconds: Math.max(requests, tokens), totalTokens, byDimension: { requests, tokens } };
}

interface RunResult {
  name: string;
  succeeded: number;
  failed: number;
  failures: Map<string, number>;
  wallMs: number;
  stats: MockStats;
  /** Requests that met at least one 429 (known only where the client reports it). */
  requestsSeeing429?: number;
  events?: SluiceEvent[];
  startedAt: number;
}

async function runClient(
  name: string,
  jobs: readonly Job[],
  o: GoodputOptions,
  makeClient: (baseURL: string) => { client: OpenAI; events?: SluiceEvent[] },
): Promise<RunResult> {
  const mockOptions: MockOptions = {
    rpm: o.rpm,
    tpm: o.tpm,
    burstSeconds: o.burstSeconds,
    latencyMs: o.latencyMs,
    retryAfter: true,
    retryAfterMs: false,
    seed: o.seed,
  };
  const mock = await startMock(mockOptions);
  const { client, events } = makeClient(mock.url);
  const abort = new AbortController();
  // One signal shared by every request; the SDK adds a listener per attempt and does not remove it.
  setMaxListeners(jobs.length * 8, abort.signal);
  const failures = new Map<string, number>();
  let succeeded = 0;
  let next = 0;
  const startedAt = Date.now();
  const start = performance.now();
  const guard = setTimeout(() => abort.abort(new Error('bench_timeout')), o.timeoutMs);
  try {
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        try {
          await client.chat.completions.create(
            {
              model: 'gpt-4o-mini',
              messages: [{ role: 'user', content: job.prompt }],
              max_tokens: job.maxTokens,
            },
            { signal: abort.signal },
          );
          succeeded++;
        } catch (err) {
          const code = abort.signal.aborted ? 'bench_timeout' : describeError(err);
          failures.set(code, (failures.get(code) ?? 0) + 1);
        }
      }
    };
    await Promise.all(Array.from({ length: o.inFlight }, worker));
    const wallMs = performance.now() - start;
    const stats = mock.stats();
    const seeing429 = events
      ? new Set(events.filter((e) => e.type === 'rate_limited').map((e) => e.id)).size
      : undefined;
    return {
      name,
      succeeded,
      failed: jobs.length - succeeded,
      failures,
      wallMs,
      stats,
      ...(seeing429 === undefined ? {} : { requestsSeeing429: seeing429 }),
      ...(events ? { events } : {}),
      startedAt,
    };
  } finally {
    clearTimeout(guard);
    await mock.close();
  }
}

function describeError(err: unknown): string {
  if (err instanceof OpenAI.APIError)
    return `${err.status ?? 'no status'} ${err.code ?? err.type ?? ''}`.trim();
  if (err instanceof Error) return err.name;
  return String(err);
}

export async function benchGoodput(o: GoodputOptions): Promise<string> {
  const jobs = workload(o);
  const min = theoreticalMinimum(jobs, o);

  const sluice = await runClient('Sluice createFetch(), maxRetries: 0', jobs, o, (baseURL) => {
    const fetch = createFetch();
    const events: SluiceEvent[] = [];
    fetch.engine.on((e) => {
      if (
        e.type === 'admitted' ||
        e.type === 'rate_limited' ||
        e.type === 'limits_learned' ||
        e.type === 'answered'
      )
        events.push(e);
    });
    return { client: new OpenAI({ apiKey: 'sk-bench', baseURL, fetch, maxRetries: 0 }), events };
  });
  const plain = await runClient('openai SDK alone, maxRetries: 2', jobs, o, (baseURL) => ({
    client: new OpenAI({ apiKey: 'sk-bench', baseURL, maxRetries: 2 }),
  }));

  const results = [sluice, plain];
  const rows = results.map((r) => [
    r.name,
    fmt(r.succeeded),
    fmt(r.failed),
    fmt(r.stats.rejected.total),
    pct(r.stats.rejected.total / jobs.length),
    r.requestsSeeing429 === undefined ? '–' : fmt(r.requestsSeeing429),
    fmt(r.wallMs / 1000, 2),
    `${fmt(r.wallMs / 1000 / min.seconds, 3)}×`,
    fmt(r.stats.tokens.charged),
  ]);

  const lines = [
    `${fmt(jobs.length)} chat requests, ${o.inFlight} in flight, prompts ${o.promptChars[0]}–${o.promptChars[1]} chars, max_tokens ${o.maxTokens[0]}–${o.maxTokens[1]} (seed ${o.seed}).`,
    `Emulator: ${fmt(o.rpm)} RPM, ${fmt(o.tpm)} TPM, ${o.burstSeconds} s burst, ${o.latencyMs} ms latency, retry-after in whole seconds only (no retry-after-ms); a fresh emulator per client.`,
    `Workload cost: ${fmt(jobs.length)} requests, ${fmt(min.totalTokens)} tokens. Theoretical minimum: ${fmt(min.seconds, 2)} s (requests ${fmt(min.byDimension.requests, 2)} s, tokens ${fmt(min.byDimension.tokens, 2)} s).`,
    '',
    table(
      [
        'client',
        { title: 'succeeded', align: 'right' },
        { title: 'failed', align: 'right' },
        { title: '429s sent', align: 'right' },
        { title: '429s / requests', align: 'right' },
        { title: 'requests that met a 429', align: 'right' },
        { title: 'wall s', align: 'right' },
        { title: 'wall ÷ minimum', align: 'right' },
        { title: 'tokens charged', align: 'right' },
      ],
      rows,
    ),
  ];
  for (const r of results) {
    if (r.failures.size > 0) {
      lines.push(
        '',
        `${r.name} failures: ${[...r.failures].map(([code, count]) => `${count} × ${code}`).join(', ')}`,
      );
    }
  }

  const targets = [
    { name: 'every request succeeds', met: sluice.failed === 0 },
    { name: '≤ 3% of requests see a 429', met: sluice.stats.rejected.total <= jobs.length * 0.03 },
    { name: 'wall time within 15% of the minimum', met: sluice.wallMs / 1000 <= min.seconds * 1.15 },
  ];
  lines.push(
    '',
    `Sluice targets: ${targets.map((t) => `${t.name}: ${t.met ? 'met' : 'NOT met'}`).join('; ')}.`,
  );
  if (o.timeline || targets.some((t) => !t.met)) lines.push('', describeSluiceRun(sluice, o));
  return lines.join('\n');
}

/** What Sluice did over time: limits it learned, admissions per second against the server's 429s. */
function describeSluiceRun(r: RunResult, o: GoodputOptions): string {
  const events = r.events ?? [];
  const t0 = r.startedAt;
  const learned = events
    .filter((e): e is Extract<SluiceEvent, { type: 'limits_learned' }> => e.type === 'limits_learned')
    .map(
      (e) =>
        `  +${fmt((e.at - t0) / 1000, 3)} s: ${Object.entries(e.limits)
          .map(([id, limit]) => `${id} = ${fmt(limit)}`)
          .join(', ')}`,
    );
  const limited = events
    .filter((e): e is Extract<SluiceEvent, { type: 'rate_limited' }> => e.type === 'rate_limited')
    .map((e) => `  +${fmt((e.at - t0) / 1000, 3)} s: request ${e.id}, lane paused ${fmt(e.waitMs)} ms`);

  interface Second {
    admitted: number;
    tokens: number;
    ok: number;
    refused: number;
  }
  const seconds: Second[] = [];
  const at = (ms: number) => {
    const s = Math.max(0, Math.floor(ms / 1000) - Math.floor(t0 / 1000));
    while (seconds.length <= s) seconds.push({ admitted: 0, tokens: 0, ok: 0, refused: 0 });
    return seconds[s]!;
  };
  for (const e of events) {
    if (e.type === 'admitted') {
      const s = at(e.at);
      s.admitted++;
      s.tokens += e.tokens;
    } else if (e.type === 'answered') {
      if (e.status === 429) at(e.at).refused++;
      else if (e.status < 300) at(e.at).ok++;
    }
  }
  const serverBySecond = new Map(r.stats.perSecond.map((s) => [s.second, s]));
  const rate = o.tpm / 60;
  const rows = seconds.map((s, i) => {
    const server = serverBySecond.get(Math.floor(t0 / 1000) + i);
    return [
      `${i}–${i + 1}`,
      fmt(s.admitted),
      fmt(s.tokens),
      fmt(server?.requests ?? 0),
      fmt(server?.tokens ?? 0),
      pct((server?.tokens ?? 0) / rate, 0),
      fmt(s.ok),
      fmt(s.refused),
    ];
  });
  return [
    'Sluice run in detail (client events from engine.on(); server columns from the emulator; rows are wall-clock seconds, the first one partial):',
    '',
    `limits_learned events (${learned.length}):`,
    ...(learned.length ? learned : ['  none']),
    '',
    `rate_limited events (${limited.length}):`,
    ...(limited.length ? limited : ['  none']),
    '',
    table(
      [
        'second',
        { title: 'admitted (client)', align: 'right' },
        { title: 'est. tokens admitted', align: 'right' },
        { title: 'admitted (server)', align: 'right' },
        { title: 'tokens charged (server)', align: 'right' },
        { title: 'of TPM rate', align: 'right' },
        { title: '2xx', align: 'right' },
        { title: '429', align: 'right' },
      ],
      rows,
    ),
  ].join('\n');
}
