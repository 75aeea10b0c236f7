/**
 * Why `createFetch()` costs more per request on loopback than in-process (docs/benchmarks.md, Engine,
 * part 2): the same in-process stub `fetch`, with and without `createFetch()` around it, sent back to
 * back, with the thread asleep for 1 ms between requests (as it is while a loopback answer is on its
 * way), and with the CPU caches evicted between requests (32 MB read) but no sleep. No network at all.
 *
 *   npx tsx bench/lib/fetch-cold.ts [requests per mode]
 */
import { createFetch } from '../../src/fetch/create-fetch.js';
import { fmt, median, signed } from './stats.js';
import { table } from './table.js';

const ANSWER = JSON.stringify({
  id: 'chatcmpl-bench',
  object: 'chat.completion',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 },
});
const BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});

const stub: typeof fetch = async () =>
  new Response(ANSWER, { status: 200, headers: { 'content-type': 'application/json' } });
const wrapped = createFetch({ fetch: stub });

async function one(f: typeof fetch): Promise<number> {
  const start = performance.now();
  const res = await f('http://127.0.0.1:1/v1/chat/completions', {
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body: BODY,
  });
  await res.arrayBuffer();
  return (performance.now() - start) * 1000;
}

const junk = new Float64Array(4 << 20);
/** Written by the eviction loop so that it cannot be optimized away. */
export let sink = 0;
const gaps: [string, () => Promise<void>][] = [
  ['back to back', async () => {}],
  ['1 ms asleep between requests', () => new Promise<void>((resolve) => setTimeout(resolve, 1))],
  [
    'caches evicted between requests (32 MB read), no sleep',
    async () => {
      for (let i = 0; i < junk.length; i += 8) sink += junk[i]!;
    },
  ],
];

const count = Number(process.argv[2] ?? 2_000);
for (let i = 0; i < 3_000; i++) {
  await one(stub);
  await one(wrapped);
}
const rows: string[][] = [];
for (const [name, gap] of gaps) {
  const plain: number[] = [];
  const sluice: number[] = [];
  for (let i = 0; i < count; i++) {
    await gap();
    plain.push(await one(stub));
    await gap();
    sluice.push(await one(wrapped));
  }
  rows.push([name, fmt(median(plain), 1), fmt(median(sluice), 1), signed(median(sluice) - median(plain))]);
}
console.log(
  `In-process stub fetch (no network), ${fmt(count)} requests per client and mode, alternating; median µs per request from the call to the end of the body:\n`,
);
console.log(
  table(
    [
      'between requests',
      { title: 'stub fetch', align: 'right' },
      { title: 'createFetch({ fetch: stub })', align: 'right' },
      { title: 'added', align: 'right' },
    ],
    rows,
  ),
);
