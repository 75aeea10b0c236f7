/**
 * `npm run bench:cache`: the response cache on a workload where 30 % of the requests repeat earlier
 * ones, under tight limits. The same workload with and without the cache, side by side in one run:
 * wall time, requests sent, tokens charged by the emulator, 429s. Then the latency of a hit.
 *
 * Usage: npm run bench:cache [-- --requests 400 --repeat 0.3 --rpm 600 --tpm 60000]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createFetch } from '../src/index.js';
import { startMock } from '../src/mock/index.js';
import { prng } from './lib/prng.js';
import { fmt, pct, quantile } from './lib/stats.js';
import { table } from './lib/table.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '400' },
    repeat: { type: 'string', default: '0.3' },
    rpm: { type: 'string', default: '600' },
    tpm: { type: 'string', default: '60000' },
    hits: { type: 'string', default: '2000' },
  },
});
const N = Number(values.requests);
const REPEAT = Number(values.repeat);
const RPM = Number(values.rpm);
const TPM = Number(values.tpm);

/** The workload: N questions, a share of which repeat an earlier one (same body). */
function workload(): string[] {
  const random = prng(7);
  const questions: string[] = [];
  for (let i = 0; i < N; i++) {
    // Exactly REPEAT of the requests repeat an earlier question (every tenth request's share of it).
    const repeat = i > 0 && (i % 10) / 10 >= 1 - REPEAT;
    questions.push(
      repeat ? questions[Math.floor(random() * i)]! : `question ${i}: ${'tell me about rivers '.repeat(8)}`,
    );
  }
  return questions;
}

const body = (q: string) =>
  JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: q }], max_tokens: 50 });

async function run(label: string, cache: boolean, questions: string[]) {
  const mock = await startMock({ rpm: RPM, tpm: TPM, burstSeconds: 1 });
  const f = createFetch({ cache });
  const started = performance.now();
  const answers = await Promise.all(
    questions.map(async (q) => {
      const res = await f(`${mock.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
        body: body(q),
      });
      await res.text();
      return res.status;
    }),
  );
  const wallMs = performance.now() - started;
  const stats = mock.stats();
  await mock.close();
  return {
    label,
    wallMs,
    ok: answers.filter((s) => s === 200).length,
    sent: stats.received,
    tokens: stats.tokens.charged,
    rejected: stats.rejected.total,
  };
}

async function hitLatency(count: number) {
  const mock = await startMock({ rpm: 0, tpm: 0 });
  const f = createFetch({ cache: true });
  const send = async () => {
    const res = await f(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
      body: body('the same question'),
    });
    await res.text();
  };
  await send();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await send();
    times.push(performance.now() - t);
  }
  const miss: number[] = [];
  for (let i = 0; i < Math.min(200, count); i++) {
    const t = performance.now();
    const res = await f(`${mock.url}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer sk-bench',
        'content-type': 'application/json',
        'x-sluice-cache': 'off',
      },
      body: body('the same question'),
    });
    await res.text();
    miss.push(performance.now() - t);
  }
  await mock.close();
  return { times, miss };
}

const questions = workload();
const distinct = new Set(questions).size;
const without = await run('without the cache', false, questions);
const withCache = await run('with the cache', true, questions);
console.log(
  `${N} requests, ${N - distinct} of them (${pct((N - distinct) / N)}) repeating an earlier one; emulator at ${fmt(RPM)} RPM, ${fmt(TPM)} TPM, 1 s burst; all sent at once\n`,
);
console.log(
  table(
    [
      'run',
      { title: 'wall', align: 'right' },
      { title: 'succeeded', align: 'right' },
      { title: 'sent upstream', align: 'right' },
      { title: 'tokens charged', align: 'right' },
      { title: '429s', align: 'right' },
    ],
    [without, withCache].map((r) => [
      r.label,
      `${fmt(r.wallMs / 1000, 2)} s`,
      fmt(r.ok),
      fmt(r.sent),
      fmt(r.tokens),
      fmt(r.rejected),
    ]),
  ),
);
console.log(
  `\nwith the cache: ${pct(1 - withCache.wallMs / without.wallMs)} less time, ${pct(1 - withCache.tokens / without.tokens)} fewer tokens\n`,
);
const { times, miss } = await hitLatency(Number(values.hits));
console.log(
  table(
    [
      'answer (loopback, sequential)',
      { title: 'p50', align: 'right' },
      { title: 'p99', align: 'right' },
      { title: 'samples', align: 'right' },
    ],
    [
      [
        'cache hit',
        `${fmt(quantile(times, 0.5), 3)} ms`,
        `${fmt(quantile(times, 0.99), 3)} ms`,
        fmt(times.length),
      ],
      [
        'sent to the emulator (x-sluice-cache: off)',
        `${fmt(quantile(miss, 0.5), 3)} ms`,
        `${fmt(quantile(miss, 0.99), 3)} ms`,
        fmt(miss.length),
      ],
    ],
  ),
);
