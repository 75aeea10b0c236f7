/**
 * `sluice worker --amqp`: spawned worker processes of the built CLI against the emulator, with the
 * shared RabbitMQ (a fresh queue per test) and Redis (a fresh prefix per test).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChannelModel } from 'amqplib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { AmqpPublisher } from '../src/worker/amqp/publish.js';
import { chatLine, CLI, startCountingProxy, tempDir } from './support/batch.js';
import { freshPrefix, REDIS_URL, removeKeys, sharedRedis } from './support/redis.js';
import {
  AMQP_URL,
  collect,
  countIds,
  dropQueues,
  freshQueue,
  launchWorker,
  rabbit,
  until,
  type WorkerProcess,
} from './support/worker.js';

let conn: ChannelModel;
const workers: WorkerProcess[] = [];
const mocks: MockServer[] = [];
const queues: string[] = [];
const prefixes: string[] = [];

beforeAll(async () => {
  conn = await rabbit();
});
afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  for (const m of mocks.splice(0)) await m.close();
  for (const q of queues.splice(0)) await dropQueues(conn, q);
  if (prefixes.length > 0) {
    const redis = await sharedRedis();
    for (const p of prefixes.splice(0)) await removeKeys(redis, p);
    redis.disconnect();
  }
});
afterAll(async () => {
  await conn.close();
});

async function mock(options: Parameters<typeof startMock>[0]): Promise<MockServer> {
  const m = await startMock(options);
  mocks.push(m);
  return m;
}

function queueFor(tag: string): string {
  const q = freshQueue(tag);
  queues.push(q);
  return q;
}

async function enqueue(queue: string, lines: string[], options: { priority?: number } = {}): Promise<void> {
  const p = new AmqpPublisher(queue);
  await p.open(AMQP_URL);
  for (const line of lines) await p.publish(line, options);
  await p.close();
}

function worker(queue: string, baseUrl: string, ...extra: string[]): WorkerProcess {
  const w = launchWorker(['--amqp', AMQP_URL, '--queue', queue, '--base-url', baseUrl, '--quiet', ...extra]);
  workers.push(w);
  return w;
}

async function depth(queue: string): Promise<number> {
  const ch = await conn.createChannel();
  const { messageCount } = await ch.checkQueue(queue);
  await ch.close();
  return messageCount;
}

const ids = (n: number, tag = 'm') => Array.from({ length: n }, (_, i) => `${tag}-${i + 1}`);

describe('sluice worker --amqp', () => {
  it('three workers sharing Redis drain one queue: one result per message, one API call each, no 429', async () => {
    const m = await mock({ rpm: 240, tpm: 1_000_000, burstSeconds: 5, latencyMs: 50 });
    const queue = queueFor('three');
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const results = await collect(conn, `${queue}.results`);
    const all = ids(40);
    await enqueue(
      queue,
      all.map((id) => chatLine(id)),
    );
    const extra = [
      '--redis',
      REDIS_URL,
      '--redis-prefix',
      prefix,
      '--rpm',
      '240',
      '--tpm',
      '1000000',
      '--concurrency',
      '4',
    ];
    const started = [
      worker(queue, m.url, ...extra),
      worker(queue, m.url, ...extra),
      worker(queue, m.url, ...extra),
    ];
    await Promise.all(started.map((w) => w.ready));
    await until(() => results.items.length >= all.length, 'a result for every message', 30_000);
    await new Promise((r) => setTimeout(r, 300));
    const counts = countIds(results.items);
    expect([...counts.keys()].sort()).toEqual([...all].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(results.items.every((r) => r.body.error === null && r.body.response?.status_code === 200)).toBe(
      true,
    );
    const stats = m.stats();
    // 12 held at most against a burst of 20: the pace is the shared limit's (4/s), never the window's.
    expect(stats.rejected.total).toBe(0);
    expect(stats.admitted).toBe(all.length);
  }, 40_000);

  it('kill -9 of a worker mid-run: every message still gets a result; repeated calls at most what it held', async () => {
    const m = await mock({ rpm: 600, tpm: 1_000_000, burstSeconds: 1, latencyMs: 300 });
    const proxy = await startCountingProxy(m.url);
    const queue = queueFor('kill');
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const results = await collect(conn, `${queue}.results`);
    const all = ids(40);
    await enqueue(
      queue,
      all.map((id) => chatLine(id)),
    );
    const extra = ['--redis', REDIS_URL, '--redis-prefix', prefix, '--concurrency', '4'];
    const victim = worker(queue, proxy.url, ...extra);
    const survivor = worker(queue, proxy.url, ...extra);
    await Promise.all([victim.ready, survivor.ready]);
    await until(() => results.items.length >= 10, 'the first results');
    victim.child.kill('SIGKILL');
    await victim.exited;
    await until(
      () => new Set(results.items.map((r) => r.body.custom_id)).size >= all.length,
      'every result',
      30_000,
    );
    await proxy.close();
    const counts = countIds(results.items);
    expect([...counts.keys()].sort()).toEqual([...all].sort());
    const repeatedCalls = [...proxy.counts.values()].reduce((sum, n) => sum + (n - 1), 0);
    expect(repeatedCalls).toBeLessThanOrEqual(4);
    expect(results.items.length - all.length).toBeLessThanOrEqual(repeatedCalls);
  }, 40_000);

  it('a quota stop pauses consumption with the messages still queued, and consumption resumes once a probe succeeds', async () => {
    const m = await mock({ rpm: 6000, tpm: 10_000_000, quotaRequests: 5 });
    const queue = queueFor('quota');
    const results = await collect(conn, `${queue}.results`);
    const all = ids(10);
    await enqueue(
      queue,
      all.map((id) => chatLine(id)),
    );
    const w = worker(queue, m.url, '--concurrency', '2', '--quota-probe', '1s');
    await w.ready;
    await until(() => m.stats().rejected.quota >= 1, 'a quota error');
    await new Promise((r) => setTimeout(r, 1500));
    expect(results.items.length).toBe(5);
    expect(await depth(queue)).toBe(all.length - 5);
    const probesBefore = m.stats().rejected.quota;
    m.reset();
    await until(() => results.items.length >= all.length, 'the rest after the quota is back');
    expect(probesBefore).toBeLessThanOrEqual(4);
    expect(results.items.every((r) => r.body.error === null)).toBe(true);
    expect(await depth(queue)).toBe(0);
  }, 30_000);

  it('a malformed message goes to <queue>.dead with the reason; a 400 answer becomes an error result', async () => {
    const m = await mock({});
    const queue = queueFor('dead');
    const results = await collect(conn, `${queue}.results`);
    const bad400 = JSON.stringify({
      custom_id: 'no-messages',
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini' },
    });
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': 10 } });
    ch.sendToQueue(queue, Buffer.from('not json'));
    ch.sendToQueue(
      queue,
      Buffer.from(JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: {} })),
    );
    await ch.close();
    await enqueue(queue, [chatLine('good'), bad400]);
    const w = worker(queue, m.url);
    await w.ready;
    await until(() => results.items.length >= 2, 'two results');
    // The dead queue holds the messages as they came, not result lines: read them one by one.
    const deadCh = await conn.createChannel();
    const deadMessages: { body: string; reason: unknown; code: unknown }[] = [];
    for (let i = 0; i < 50 && deadMessages.length < 2; i++) {
      const msg = await deadCh.get(`${queue}.dead`, { noAck: true });
      if (msg) {
        deadMessages.push({
          body: msg.content.toString(),
          reason: msg.properties.headers?.['x-sluice-dead-reason'],
          code: msg.properties.headers?.['x-sluice-dead-code'],
        });
      } else await new Promise((r) => setTimeout(r, 50));
    }
    await deadCh.close();
    expect(deadMessages.map((d) => [d.body, d.code])).toEqual([
      ['not json', 'invalid_json'],
      [
        JSON.stringify({ custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: {} }),
        'unsupported_method',
      ],
    ]);
    expect(String(deadMessages[1]!.reason)).toContain('"method" must be "POST"');
    const byId = new Map(results.items.map((r) => [r.body.custom_id, r.body]));
    expect(byId.get('good')?.error).toBeNull();
    expect(byId.get('no-messages')?.error?.code).toBe('upstream_rejected');
    expect(byId.get('no-messages')?.response?.status_code).toBe(400);
    expect(await depth(queue)).toBe(0);
  });

  it('SIGTERM: requests on the wire finish, the rest go back to the queue, exit 0; nothing is lost', async () => {
    const m = await mock({ rpm: 6000, tpm: 10_000_000, latencyMs: 1500 });
    const queue = queueFor('term');
    const results = await collect(conn, `${queue}.results`);
    const all = ids(20);
    await enqueue(
      queue,
      all.map((id) => chatLine(id)),
    );
    const w = worker(queue, m.url, '--concurrency', '3');
    await w.ready;
    // The first request goes alone (the engine learns the limits from its answer), then three at once.
    await until(() => m.stats().received >= 4, 'three requests on the wire');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(m.stats().received).toBe(4);
    expect(results.items.length).toBe(4);
    expect(await depth(queue)).toBe(all.length - 4);
    const next = worker(queue, m.url, '--concurrency', '8');
    await next.ready;
    await until(() => results.items.length >= all.length, 'the rest from a second worker', 20_000);
    const counts = countIds(results.items);
    expect([...counts.keys()].sort()).toEqual([...all].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
  }, 30_000);

  it('messages are taken in priority order within one queue', async () => {
    const m = await mock({});
    const queue = queueFor('prio');
    const results = await collect(conn, `${queue}.results`);
    const low = ids(6, 'low');
    const high = ids(6, 'high');
    await enqueue(
      queue,
      low.map((id) => chatLine(id)),
      { priority: 1 },
    );
    await enqueue(
      queue,
      high.map((id) => chatLine(id)),
      { priority: 9 },
    );
    const w = worker(queue, m.url, '--concurrency', '1');
    await w.ready;
    await until(() => results.items.length >= 12, 'every result');
    expect(results.items.slice(0, 6).map((r) => r.body.custom_id)).toEqual(high);
    expect(results.items.slice(6).map((r) => r.body.custom_id)).toEqual(low);
  });

  it('/metrics counts the messages by outcome and shows the held and prefetch gauges', async () => {
    const m = await mock({});
    const queue = queueFor('metrics');
    const results = await collect(conn, `${queue}.results`);
    await enqueue(queue, [chatLine('a'), chatLine('b'), '{"custom_id":"c"}']);
    const w = launchWorker([
      '--amqp',
      AMQP_URL,
      '--queue',
      queue,
      '--base-url',
      m.url,
      '--metrics-port',
      '0',
    ]);
    workers.push(w);
    await w.ready;
    await until(() => /metrics: (http:\/\/\S+)/.test(w.stderr()), 'the metrics address');
    const url = /metrics: (http:\/\/\S+)/.exec(w.stderr())![1]!;
    await until(() => results.items.length >= 2, 'two results');
    await new Promise((r) => setTimeout(r, 200));
    const text = await (await fetch(url)).text();
    expect(text).toContain('sluice_worker_messages_total{outcome="succeeded"} 2');
    expect(text).toContain('sluice_worker_messages_total{outcome="dead"} 1');
    expect(text).toMatch(/sluice_worker_prefetch \d+/);
    expect(text).toContain('sluice_worker_held_messages 0');
  });

  it('a message with reply_to gets its result there, with its correlation_id', async () => {
    const m = await mock({});
    const queue = queueFor('rpc');
    const replies = `${queue}.replies`;
    queues.push(replies);
    const answers = await collect(conn, replies);
    const p = new AmqpPublisher(queue);
    await p.open(AMQP_URL);
    await p.publish(chatLine('ask'), { replyTo: replies, correlationId: 'corr-7' });
    await p.close();
    const w = worker(queue, m.url);
    await w.ready;
    await until(() => answers.items.length >= 1, 'the reply');
    expect(answers.items[0]!.correlationId).toBe('corr-7');
    expect(answers.items[0]!.body.custom_id).toBe('ask');
  });

  it('sluice enqueue publishes the good lines of a file and names the bad ones by line number', async () => {
    const queue = queueFor('enqueue');
    const dir = tempDir();
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, [chatLine('a'), '{"custom_id":"b"}', chatLine('c')].join('\n') + '\n');
    const run = spawnSync(process.execPath, [CLI, 'enqueue', file, '--amqp', AMQP_URL, '--queue', queue], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('line 2: "method" must be "POST"');
    expect(run.stderr).toContain('enqueued 2 lines');
    expect(await depth(queue)).toBe(2);
  });
});
