/* global process */
// One process of the clock-skew test: createFetch() with the Redis store under a prefix, on a clock set
// `offsetMs` away from the host's. Prints "ready" once its store has reached Redis, waits for a line on
// stdin (so that both processes start together), sends `count` requests at once and prints their
// statuses as JSON.
// Usage: node skew-process.mjs <baseURL> <prefix> <offsetMs> <count> <time: redis|caller>
import { createFetch, systemClock } from '../../dist/index.js';
import { createRedisStore } from '../../dist/stores/redis/index.js';

const [base, prefix, offset, count, time] = process.argv.slice(2);
const clock = { now: () => Date.now() + Number(offset), sleep: systemClock.sleep };
const store = createRedisStore({ url: 'redis://127.0.0.1:6379', prefix, time, commandTimeoutMs: 5000 });
// 600 RPM with a 1 s burst, as the emulator has; nothing learned, so the limits stay exactly these.
const f = createFetch({ store, clock, limits: { rpm: 600, burstMs: 1000 }, learnLimits: false });
while (store.processes === 0) await systemClock.sleep(20);
process.stdout.write('ready\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();
const statuses = await Promise.all(
  Array.from({ length: Number(count) }, async (_, i) => {
    const res = await f(`${base}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-skew', 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `q${i}` }],
        max_tokens: 5,
      }),
    });
    await res.arrayBuffer();
    return res.status;
  }),
);
process.stdout.write(`${JSON.stringify(statuses)}\n`);
await f.engine.close();
