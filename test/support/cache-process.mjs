/* global process, setTimeout */
// A second process for the Redis cache test: asks one question through createFetch() with the Redis
// backend under the given prefix, and prints what the cache said (hit or miss).
// Usage: node cache-process.mjs <baseURL> <prefix>
import { Redis } from 'ioredis';
import { createFetch, redisBackend } from '../../dist/index.js';

const [base, prefix] = process.argv.slice(2);
const redis = new Redis('redis://127.0.0.1:6379');
const f = createFetch({ cache: { backend: redisBackend({ client: redis, prefix }) } });
const res = await f(`${base}/chat/completions`, {
  method: 'POST',
  headers: { authorization: 'Bearer sk-shared', 'content-type': 'application/json' },
  body: JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'from another process' }],
    max_tokens: 30,
    seed: 1,
  }),
});
await res.text();
// The entry is stored once the body has ended; give the store its round trip.
await new Promise((resolve) => setTimeout(resolve, 50));
process.stdout.write(`${res.headers.get('x-sluice-cache')}\n`);
await redis.quit();
