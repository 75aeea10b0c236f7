/**
 * Where inside one loopback request `createFetch()` spends its extra time: the request's phases timed
 * (before the inner `fetch` is called, the inner `fetch`, from its answer to the Response handed back,
 * reading the body), for plain `fetch` and for `createFetch()`, alternating in rounds. The server (no
 * rate-limit headers) runs in a worker thread.
 *
 *   npx tsx bench/lib/fetch-phases.ts
 */
import { Worker } from 'node:worker_threads';
import { createFetch } from '../../src/fetch/create-fetch.js';
import { fmt, median } from './stats.js';
import { table } from './table.js';

const SERVER = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const answer = JSON.stringify({ id: 'c', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 } });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) };
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, headers); res.end(answer); }); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

const worker = new Worker(SERVER, { eval: true });
const port = await new Promise<number>((resolve) => worker.once('message', resolve));
const url = `http://127.0.0.1:${port}/v1/chat/completions`;
const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});
let called = 0;
let answered = 0;
const timed: typeof fetch = async (input, init) => {
  called = performance.now();
  const res = await fetch(input, init);
  answered = performance.now();
  return res;
};
const clients = { fetch: timed, 'createFetch()': createFetch({ fetch: timed }) };
type Name = keyof typeof clients;
const PHASES = ['before the inner fetch', 'inner fetch', 'answer → Response returned', 'body read'];
const phases: Record<Name, number[][]> = {
  fetch: PHASES.map(() => []),
  'createFetch()': PHASES.map(() => []),
};
const one = async (name: Name, keep: boolean) => {
  const start = performance.now();
  const res = await clients[name](url, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body,
  });
  const returned = performance.now();
  await res.arrayBuffer();
  const end = performance.now();
  if (!keep) return;
  const times = [called - start, answered - called, returned - answered, end - returned];
  times.forEach((t, i) => phases[name][i]!.push(t * 1000));
};
for (let i = 0; i < 1_000; i++) {
  await one('fetch', false);
  await one('createFetch()', false);
}
for (let r = 0; r < 8; r++) {
  const order: Name[] = r % 2 === 0 ? ['createFetch()', 'fetch'] : ['fetch', 'createFetch()'];
  for (const name of order) for (let i = 0; i < 500; i++) await one(name, true);
}
console.log('Median µs per phase of one sequential loopback request, 4,000 requests per client:\n');
console.log(
  table(
    ['client', ...PHASES.map((title) => ({ title, align: 'right' as const }))],
    (Object.keys(clients) as Name[]).map((name) => [name, ...phases[name].map((xs) => fmt(median(xs), 1))]),
  ),
);
await worker.terminate();
