/**
 * Where `createFetch()`'s loopback overhead goes: the same sequential requests as bench:engine part 2
 * through plain `fetch` or through `createFetch()`, one client per process under `--cpu-prof`, so the
 * two profiles can be compared function by function.
 *
 *   node --import tsx --cpu-prof --cpu-prof-dir=DIR bench/lib/fetch-profile.ts fetch|createFetch [requests]
 *
 * Prints the client's CPU µs per request (the server runs in a worker thread and is included, as in
 * part 2).
 */
import { Worker } from 'node:worker_threads';
import { createFetch } from '../../src/fetch/create-fetch.js';

const SERVER = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const answer = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000,
  model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' },
  finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 } });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer),
  'x-ratelimit-limit-requests': '100000000', 'x-ratelimit-remaining-requests': '99999999',
  'x-ratelimit-reset-requests': '0s', 'x-ratelimit-limit-tokens': '10000000000',
  'x-ratelimit-remaining-tokens': '9999999980', 'x-ratelimit-reset-tokens': '0s' };
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, headers); res.end(answer); }); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

const which = process.argv[2];
const count = Number(process.argv[3] ?? 5_000);
if (which !== 'fetch' && which !== 'createFetch') {
  process.stderr.write('usage: fetch-profile.ts fetch|createFetch [requests]\n');
  process.exit(2);
}
const worker = new Worker(SERVER, { eval: true });
const port = await new Promise<number>((resolve) => worker.once('message', resolve));
const url = `http://127.0.0.1:${port}/v1/chat/completions`;
const f = which === 'fetch' ? globalThis.fetch : createFetch();
const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});
const one = async () => {
  const res = await f(url, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body,
  });
  await res.arrayBuffer();
};
for (let i = 0; i < 500; i++) await one();
const cpu = process.cpuUsage();
const t = performance.now();
for (let i = 0; i < count; i++) await one();
const used = process.cpuUsage(cpu);
process.stdout.write(
  `${which}: ${count} requests, ${((performance.now() - t) / count) * 1000} µs/req wall, ${(used.user + used.system) / count} µs/req CPU\n`,
);
await worker.terminate();
