/**
 * Part 2: what `createFetch()` adds to each request over the plain `fetch` it wraps.
 *
 * A `node:http` server on 127.0.0.1 (port 0, in a worker thread) answers every `POST /v1/chat/completions` at once with a small
 * chat-completion JSON and OpenAI's rate-limit headers (limits far above anything sent, so nothing ever
 * waits; Sluice learns them as it would from OpenAI). Both clients send the same request through the
 * same undici connection pool and read the whole body. Runs alternate between the two clients in
 * rounds (and the side that goes first alternates too) so that the machine's noise falls on both alike.
 */
import { Worker } from 'node:worker_threads';
import { createFetch } from '../../src/fetch/create-fetch.js';
import { fmt, mean, quantile, signed } from './stats.js';
import { table } from './table.js';

export interface OverheadOptions {
  /** Requests per client, one at a time. */
  sequential: number;
  /** Requests per client with `concurrency` in flight. */
  concurrent: number;
  concurrency: number;
  /** Interleaved rounds each count is split into. */
  rounds: number;
  /** Untimed requests per client first. */
  warmup: number;
  /** Requests per client, one at a time, against an in-process stub `fetch` (no network). */
  stub: number;
}

const ANSWER = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini-2024-07-18',
  choices: [
    {
      index: 0,
      message: { role: 'assistant', content: 'Hello! How can I help you today?', refusal: null },
      logprobs: null,
      finish_reason: 'stop',
    },
  ],
  usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 },
  system_fingerprint: 'fp_bench',
});

const ANSWER_HEADERS: Record<string, string> = {
  'content-type': 'application/json',
  'x-request-id': 'req_bench',
  'openai-processing-ms': '1',
  'x-ratelimit-limit-requests': '100000000',
  'x-ratelimit-remaining-requests': '99999999',
  'x-ratelimit-reset-requests': '0s',
  'x-ratelimit-limit-tokens': '10000000000',
  'x-ratelimit-remaining-tokens': '9999999980',
  'x-ratelimit-reset-tokens': '0s',
};

const REQUEST_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});

/**
 * The server runs in a worker thread: its own event loop on the other core, so the client side's CPU
 * time (what `createFetch()` adds) is not hidden behind, or mixed with, the server's.
 */
const SERVER_SOURCE = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const answer = workerData.answer;
const headers = { ...workerData.headers, 'content-length': Buffer.byteLength(answer) };
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, headers);
    res.end(answer);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

async function startServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const worker = new Worker(SERVER_SOURCE, {
    eval: true,
    workerData: { answer: ANSWER, headers: ANSWER_HEADERS },
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    close: async () => {
      await worker.terminate();
    },
  };
}

type Fetch = typeof globalThis.fetch;

async function one(f: Fetch, url: string): Promise<number> {
  const start = performance.now();
  const res = await f(url, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body: REQUEST_BODY,
  });
  await res.arrayBuffer();
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`The bench server answered ${res.status}; expected 200.`);
  return ms;
}

/** `count` requests with `concurrency` in flight; pushes each request's latency (ms). */
async function run(f: Fetch, url: string, count: number, concurrency: number, out: number[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      out.push(await one(f, url));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

interface Side {
  latencies: number[];
  ms: number;
  /** Client-process CPU time (user + system) spent in this side's rounds, µs. */
  cpuUs: number;
}

export async function benchOverhead(options: OverheadOptions): Promise<string> {
  const server = await startServer();
  const plain: Fetch = globalThis.fetch;
  const stub: Fetch = async () => new Response(ANSWER, { status: 200, headers: ANSWER_HEADERS });
  const network = [
    { name: 'fetch', f: plain },
    { name: 'createFetch()', f: createFetch() },
  ];
  const offline = [
    { name: 'stub fetch', f: stub },
    { name: 'createFetch({ fetch: stub })', f: createFetch({ fetch: stub }) },
  ];
  try {
    const modes = [
      { name: 'loopback, sequential', clients: network, count: options.sequential, concurrency: 1 },
      {
        name: `loopback, ${options.concurrency} in flight`,
        clients: network,
        count: options.concurrent,
        concurrency: options.concurrency,
      },
      { name: 'no network, sequential', clients: offline, count: options.stub, concurrency: 1 },
    ];
    const rows: string[][] = [];
    const deltas: string[][] = [];
    for (const mode of modes) {
      const { clients } = mode;
      for (const c of clients) await run(c.f, server.url, options.warmup, mode.concurrency, []);
      const sides: Side[] = clients.map(() => ({ latencies: [], ms: 0, cpuUs: 0 }));
      const perRound = Math.ceil(mode.count / options.rounds);
      for (let r = 0; r < options.rounds; r++) {
        for (let k = 0; k < clients.length; k++) {
          const i = (k + r) % clients.length;
          const started = performance.now();
          const cpu = process.cpuUsage();
          await run(clients[i]!.f, server.url, perRound, mode.concurrency, sides[i]!.latencies);
          const used = process.cpuUsage(cpu);
          sides[i]!.ms += performance.now() - started;
          sides[i]!.cpuUs += used.user + used.system;
        }
      }
      const summary = sides.map((s) => ({
        mean: mean(s.latencies) * 1000,
        p50: quantile(s.latencies, 0.5) * 1000,
        p99: quantile(s.latencies, 0.99) * 1000,
        rps: s.latencies.length / (s.ms / 1000),
        cpu: s.cpuUs / s.latencies.length,
        n: s.latencies.length,
      }));
      summary.forEach((s, i) =>
        rows.push([
          mode.name,
          clients[i]!.name,
          fmt(s.n),
          fmt(s.mean, 1),
          fmt(s.p50, 1),
          fmt(s.p99, 1),
          fmt(s.cpu, 1),
          fmt(s.rps),
        ]),
      );
      const [a, b] = summary as [(typeof summary)[0], (typeof summary)[0]];
      deltas.push([
        mode.name,
        signed(b.mean - a.mean),
        signed(b.p50 - a.p50),
        signed(b.p99 - a.p99),
        signed(b.cpu - a.cpu),
        `${signed(((b.rps - a.rps) / a.rps) * 100)}%`,
      ]);
    }
    return [
      `Loopback: node:http server in a worker thread; no network: a stub fetch answering in-process. Small chat-completion JSON with rate-limit headers far above the load (nothing waits); CPU = the client process's user + system time per request (the server runs in another thread but the same process, so loopback CPU includes it); ${options.rounds} interleaved rounds, ${fmt(options.warmup)} warm-up requests per client and mode.`,
      '',
      table(
        [
          'mode',
          'client',
          { title: 'requests', align: 'right' },
          { title: 'mean µs', align: 'right' },
          { title: 'p50 µs', align: 'right' },
          { title: 'p99 µs', align: 'right' },
          { title: 'CPU µs/req', align: 'right' },
          { title: 'req/s', align: 'right' },
        ],
        rows,
      ),
      '',
      'Added by createFetch() (createFetch() − fetch):',
      '',
      table(
        [
          'mode',
          { title: 'mean µs', align: 'right' },
          { title: 'p50 µs', align: 'right' },
          { title: 'p99 µs', align: 'right' },
          { title: 'CPU µs/req', align: 'right' },
          { title: 'req/s', align: 'right' },
        ],
        deltas,
      ),
    ].join('\n');
  } finally {
    await server.close();
  }
}
