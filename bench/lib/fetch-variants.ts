/**
 * Narrows down createFetch()'s loopback overhead: plain fetch and createFetch() against the same
 * loopback server, with and without rate-limit headers on the answers (without them nothing is
 * learned, so the engine neither settles usage nor watches the body), interleaved in rounds.
 *
 *   node --import tsx bench/lib/fetch-variants.ts [rounds] [perRound]
 */
import { Worker } from 'node:worker_threads';
import { createFetch } from '../../src/fetch/create-fetch.js';

const SERVER = `
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const answer = JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion', created: 1700000000,
  model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' },
  finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 9, total_tokens: 20 } });
const plain = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) };
const limits = { ...plain,
  'x-ratelimit-limit-requests': '100000000', 'x-ratelimit-remaining-requests': '99999999',
  'x-ratelimit-reset-requests': '0s', 'x-ratelimit-limit-tokens': '10000000000',
  'x-ratelimit-remaining-tokens': '9999999980', 'x-ratelimit-reset-tokens': '0s' };
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => {
  res.writeHead(200, req.url.startsWith('/plain/') ? plain : limits); res.end(answer); }); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
`;

const rounds = Number(process.argv[2] ?? 10);
const perRound = Number(process.argv[3] ?? 500);
const worker = new Worker(SERVER, { eval: true });
const port = await new Promise<number>((resolve) => worker.once('message', resolve));
const body = JSON.stringify({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello.' }],
  max_tokens: 16,
});
const withLimits = `http://127.0.0.1:${port}/v1/chat/completions`;
const noLimits = `http://127.0.0.1:${port}/plain/v1/chat/completions`;
const variants = [
  { name: 'fetch, rate-limit headers', f: globalThis.fetch, url: withLimits },
  { name: 'createFetch(), rate-limit headers', f: createFetch(), url: withLimits },
  { name: 'fetch, no rate-limit headers', f: globalThis.fetch, url: noLimits },
  { name: 'createFetch(), no rate-limit headers', f: createFetch(), url: noLimits },
];
const one = async (f: typeof fetch, url: string) => {
  const res = await f(url, {
    method: 'POST',
    headers: { authorization: 'Bearer sk-bench', 'content-type': 'application/json' },
    body,
  });
  await res.arrayBuffer();
};
const cpu = variants.map(() => 0);
const lat: number[][] = variants.map(() => []);
for (const v of variants) for (let i = 0; i < 300; i++) await one(v.f, v.url);
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < variants.length; k++) {
    const i = (k + r) % variants.length;
    const v = variants[i]!;
    const c = process.cpuUsage();
    for (let n = 0; n < perRound; n++) {
      const t = performance.now();
      await one(v.f, v.url);
      lat[i]!.push((performance.now() - t) * 1000);
    }
    const u = process.cpuUsage(c);
    cpu[i] = cpu[i]! + u.user + u.system;
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
variants.forEach((v, i) =>
  console.log(
    `${v.name.padEnd(40)} p50 ${med(lat[i]!).toFixed(0).padStart(6)} µs   CPU ${(cpu[i]! / (rounds * perRound)).toFixed(0).padStart(6)} µs/req`,
  ),
);
await worker.terminate();
