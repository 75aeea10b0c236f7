/**
 * `npm run bench:worker`: three `sluice worker` processes sharing limits through Redis drain a RabbitMQ
 * queue of 2,000 Batch lines from the emulator under tight limits; side by side in the same run, three
 * BullMQ workers with BullMQ's own limiter set from the RPM as a careful user would ({ max: rpm/60,
 * duration: 1s }, retries with exponential backoff on 429). Then the peak RSS of one worker while a
 * 1,000,000-message backlog waits in RabbitMQ. A single worker on the same workload is the control
 * for what sharing one lane between processes costs.
 *
 * The emulator runs as its own process (`sluice mock`), a fresh one per system. Every request costs
 * one request and a known number of tokens, so the least time any system can take is known:
 * (requests − burst capacity) ÷ rate.
 *
 *   npm run bench:worker               # everything (about 3 minutes, one of them enqueueing 1,000,000)
 *   npm run bench:worker -- --quick    # 500 messages, 100,000 in the backlog
 *   npm run bench:worker -- --quick --sluice-only --worker-concurrency 16   # three workers, fixed concurrency
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { AmqpPublisher } from '../src/worker/amqp/publish.js';
import { bullConnection } from '../src/worker/bullmq/consumer.js';
import { CLI, startMockProcess } from './lib/cli-process.js';
import { fmt, pct } from './lib/stats.js';
import { table } from './lib/table.js';

const PEER = fileURLToPath(new URL('./lib/bullmq-peer.mjs', import.meta.url));
const quick = process.argv.includes('--quick');
const concurrencyArg = process.argv.indexOf('--worker-concurrency');
/** `--worker-concurrency <n>`: a fixed `--concurrency` for the sluice workers instead of the pace's. */
const workerConcurrency = concurrencyArg === -1 ? undefined : process.argv[concurrencyArg + 1];
const only = process.argv.includes('--sluice-only');
const AMQP = 'amqp://guest:guest@127.0.0.1:5672';
const REDIS = 'redis://127.0.0.1:6379';

const O = {
  messages: quick ? 500 : 2000,
  workers: 3,
  rpm: 3000,
  tpm: 1_000_000,
  burstSeconds: 3,
  latencyMs: 200,
  backlog: quick ? 100_000 : 1_000_000,
  /** How long the worker runs against the backlog while its RSS is sampled. */
  backlogRunMs: 20_000,
  /** In-flight jobs per BullMQ worker. */
  peerConcurrency: 20,
};

const line = (i: number) =>
  JSON.stringify({
    custom_id: `b-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: `question number ${i} about rivers and mills` }],
      max_tokens: 20,
    },
  });

const startMock = () =>
  startMockProcess([
    '--rpm',
    String(O.rpm),
    '--tpm',
    String(O.tpm),
    '--burst-seconds',
    String(O.burstSeconds),
    '--latency-ms',
    String(O.latencyMs),
  ]);

function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child[stream]!.on('data', (d: Buffer) => {
      out += d;
      if (out.includes(text)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before "${text}": ${out}`)));
  });
}

/** The least time: requests beyond the burst capacity at the rate (tokens are far from their limit here). */
function minimumSeconds(n: number): number {
  const capacity = (O.rpm * O.burstSeconds) / 60;
  return Math.max(0, n - capacity) / (O.rpm / 60);
}

interface Row {
  system: string;
  seconds: number;
  attempts: number;
  rejected: number;
  results: number;
}

async function sluiceRun(workerCount: number): Promise<Row> {
  const mock = await startMock();
  const queue = `bench-worker-${randomBytes(4).toString('hex')}`;
  const prefix = `bench-worker:${randomBytes(4).toString('hex')}:`;
  const conn = await amqp.connect(AMQP);
  const ch = await conn.createChannel();
  await ch.assertQueue(`${queue}.results`, { durable: true });
  let results = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  await ch.consume(
    `${queue}.results`,
    (msg) => {
      if (!msg) return;
      ch.ack(msg);
      if (++results === O.messages) resolveDone();
    },
    { noAck: false },
  );
  const workers = Array.from({ length: workerCount }, () =>
    spawn(
      process.execPath,
      [
        CLI,
        'worker',
        '--amqp',
        AMQP,
        '--queue',
        queue,
        '--base-url',
        mock.url,
        '--rpm',
        String(O.rpm),
        '--tpm',
        String(O.tpm),
        '--redis',
        REDIS,
        '--redis-prefix',
        prefix,
        ...(workerConcurrency === undefined ? [] : ['--concurrency', workerConcurrency]),
        '--quiet',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OPENAI_API_KEY: 'sk-bench' } },
    ),
  );
  await Promise.all(workers.map((w) => waitFor(w, 'stderr', 'sluice worker: draining')));
  const started = performance.now();
  const publisher = new AmqpPublisher(queue);
  await publisher.open(AMQP);
  for (let i = 1; i <= O.messages; i++) await publisher.publish(line(i));
  await publisher.close();
  await done;
  const seconds = (performance.now() - started) / 1000;
  const stats = await mock.stats();
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  for (const q of [queue, `${queue}.results`, `${queue}.dead`]) await ch.deleteQueue(q);
  await conn.close();
  mock.close();
  const redis = new Redis(REDIS);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  return {
    system: `sluice worker ×${workerCount} (RabbitMQ${workerCount > 1 ? ', --redis' : ''}${workerConcurrency === undefined ? '' : `, --concurrency ${workerConcurrency}`})`,
    seconds,
    attempts: stats.received,
    rejected: stats.rejected.total,
    results,
  };
}

async function bullmqRun(): Promise<Row> {
  const mock = await startMock();
  const name = `bench-bull-${randomBytes(4).toString('hex')}`;
  const queue = new Queue(name, { connection: bullConnection(REDIS) });
  await queue.waitUntilReady();
  const workers = Array.from({ length: O.workers }, () =>
    spawn(process.execPath, [PEER, REDIS, name, mock.url, String(O.rpm), String(O.peerConcurrency)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(workers.map((w) => waitFor(w, 'stdout', 'ready')));
  const started = performance.now();
  // Attempts as a careful user sets them: enough retries with backoff that 429s do not fail jobs.
  const opts = { attempts: 10, backoff: { type: 'exponential', delay: 1000 } };
  for (let i = 1; i <= O.messages; i += 1000) {
    const chunk = [];
    for (let j = i; j < Math.min(i + 1000, O.messages + 1); j++) {
      chunk.push({ name: 'batch-line', data: JSON.parse(line(j)) as unknown, opts });
    }
    await queue.addBulk(chunk);
  }
  await queue.close();
  const q2 = new Queue(name, { connection: bullConnection(REDIS) });
  let counts = { completed: 0, failed: 0 };
  for (;;) {
    const c = await q2.getJobCounts('completed', 'failed');
    counts = { completed: c['completed'] ?? 0, failed: c['failed'] ?? 0 };
    if (counts.completed + counts.failed >= O.messages) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - started) / 1000;
  const stats = await mock.stats();
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => w.once('exit', r))));
  await q2.obliterate({ force: true });
  await q2.close();
  mock.close();
  return {
    system: `BullMQ ×${O.workers}, limiter {max: ${Math.floor(O.rpm / 60)}, duration: 1000}`,
    seconds,
    attempts: stats.received,
    rejected: stats.rejected.total,
    results: counts.completed,
  };
}

/** Peak RSS (VmHWM) of one worker draining a queue that holds `O.backlog` messages. */
async function backlogRss(): Promise<{ backlog: number; peakMb: number; done: number }> {
  const mock = await startMock();
  const queue = `bench-backlog-${randomBytes(4).toString('hex')}`;
  const publisher = new AmqpPublisher(queue, 5000);
  await publisher.open(AMQP);
  const t0 = performance.now();
  for (let i = 1; i <= O.backlog; i++) await publisher.publish(line(i));
  await publisher.close();
  process.stderr.write(`enqueued ${fmt(O.backlog)} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const worker = spawn(
    process.execPath,
    [
      CLI,
      'worker',
      '--amqp',
      AMQP,
      '--queue',
      queue,
      '--base-url',
      mock.url,
      '--rpm',
      String(O.rpm),
      '--tpm',
      String(O.tpm),
      '--quiet',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OPENAI_API_KEY: 'sk-bench' } },
  );
  await waitFor(worker, 'stderr', 'sluice worker: draining');
  await new Promise((r) => setTimeout(r, O.backlogRunMs));
  const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
  const peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  worker.kill('SIGTERM');
  await new Promise((r) => worker.once('exit', r));
  const stats = await mock.stats();
  const conn = await amqp.connect(AMQP);
  const ch = await conn.createChannel();
  for (const q of [queue, `${queue}.results`, `${queue}.dead`]) await ch.deleteQueue(q);
  await conn.close();
  mock.close();
  return { backlog: O.backlog, peakMb: peakKb / 1024, done: stats.admitted };
}

const min = minimumSeconds(O.messages);
console.log(
  `${O.workers} workers, ${fmt(O.messages)} messages, emulator at ${fmt(O.rpm)} RPM / ${fmt(O.tpm)} TPM, ${O.burstSeconds} s burst, ${O.latencyMs} ms latency; theoretical minimum ${min.toFixed(1)} s\n`,
);
const rows: Row[] = [];
rows.push(await sluiceRun(O.workers));
if (!only) {
  rows.push(await sluiceRun(1));
  rows.push(await bullmqRun());
}
console.log(
  table(
    [
      'system',
      { title: 'results', align: 'right' },
      { title: 'wall s', align: 'right' },
      { title: 'vs minimum', align: 'right' },
      { title: 'attempts', align: 'right' },
      { title: '429s', align: 'right' },
      { title: '429 share', align: 'right' },
    ],
    rows.map((r) => [
      r.system,
      fmt(r.results),
      r.seconds.toFixed(1),
      `+${pct(r.seconds / min - 1)}`,
      fmt(r.attempts),
      fmt(r.rejected),
      pct(r.rejected / Math.max(1, r.attempts)),
    ]),
  ),
);
if (only) process.exit(0);
const rss = await backlogRss();
console.log(
  `\none worker, ${fmt(rss.backlog)} messages waiting in RabbitMQ, ${O.backlogRunMs / 1000} s of draining (${fmt(rss.done)} answered): peak RSS ${rss.peakMb.toFixed(0)} MB`,
);
