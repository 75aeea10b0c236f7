/**
 * One process of `bench:redis`'s distributed runs (forked by redis-accuracy.ts): `createFetch()` with
 * the Redis store, its share of one workload against the emulator, up to `concurrency` requests at once,
 * limits learned from the emulator's headers as in real use. Waits for "go" so that all start together.
 */
import { createFetch } from '../../src/index.js';
import { createRedisStore } from '../../src/stores/redis/index.js';

export interface WorkerTask {
  base: string;
  /** An emulator of its own for one warm-up request (tokenizer, HTTP client), outside the measurement. */
  warmBase: string;
  redisUrl: string;
  prefix: string;
  count: number;
  concurrency: number;
  onOutage: 'local-share' | 'fail-closed';
  /** The requests' priority class. @default 'default' */
  priority?: 'interactive' | 'default' | 'batch';
  /** max_tokens of every request. @default 5 */
  maxTokens?: number;
  /** The API key (with the upstream and the model, the lane). @default 'sk-bench-redis' */
  apiKey?: string;
}

export interface WorkerResult {
  ok: number;
  failed: number;
  /** When the last answer arrived (epoch ms). */
  lastAt: number;
  /** Status changes of the store: [epoch ms, status]. */
  changes: [number, string][];
}

process.once('message', (task: WorkerTask) => {
  const changes: [number, string][] = [];
  const store = createRedisStore({
    url: task.redisUrl,
    prefix: task.prefix,
    onOutage: task.onOutage,
    heartbeatMs: 500,
    probeMs: 250,
    instanceTtlMs: 3000,
    onStatus: (c) => changes.push([c.at, c.status]),
  });
  const f = createFetch({ store });
  const ask = (base: string, i: number) =>
    f(`${base}/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${task.apiKey ?? 'sk-bench-redis'}`,
        'content-type': 'application/json',
        'x-sluice-priority': task.priority ?? 'default',
      },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: `question ${process.pid}-${i}` }],
        max_tokens: task.maxTokens ?? 5,
      }),
    });
  const ready = async () => {
    await (await ask(task.warmBase, -1)).arrayBuffer();
    while (store.processes === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    process.send!({ ready: true });
  };
  void ready();
  process.once('message', () => {
    void (async () => {
      let next = 0;
      let ok = 0;
      let failed = 0;
      let lastAt = 0;
      const one = async () => {
        while (next < task.count) {
          const i = next++;
          try {
            const res = await ask(task.base, i);
            await res.arrayBuffer();
            if (res.status === 200) ok++;
            else failed++;
          } catch {
            failed++;
          }
          lastAt = Date.now();
        }
      };
      await Promise.all(Array.from({ length: task.concurrency }, one));
      const result: WorkerResult = { ok, failed, lastAt, changes };
      process.send!({ result });
      await f.engine.close();
      process.disconnect();
    })();
  });
});
