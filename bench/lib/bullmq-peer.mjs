/* global process, URL, fetch */
// A BullMQ worker as a careful user writes one without Sluice: BullMQ's own limiter set from the
// account's RPM ({ max: rpm / 60, duration: 1000 }, shared by every worker of the queue), a plain
// fetch per job, and BullMQ's retries with exponential backoff when the API answers 429 or 5xx.
// Usage: node bullmq-peer.mjs <redis-url> <queue> <base-url> <rpm> <concurrency>
import { Worker } from 'bullmq';

const [redisUrl, queue, baseUrl, rpm, concurrency] = process.argv.slice(2);
const u = new URL(redisUrl);
const connection = { host: u.hostname, port: Number(u.port || 6379), maxRetriesPerRequest: null };

const worker = new Worker(
  queue,
  async (job) => {
    const line = job.data;
    const res = await fetch(`${baseUrl}${line.url.replace(/^\/v1/, '')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
      body: JSON.stringify(line.body),
    });
    const body = await res.json();
    if (res.status === 429 || res.status >= 500) throw new Error(`HTTP ${res.status}`);
    return { custom_id: line.custom_id, response: { status_code: res.status, body }, error: null };
  },
  {
    connection,
    concurrency: Number(concurrency),
    limiter: { max: Math.max(1, Math.floor(Number(rpm) / 60)), duration: 1000 },
  },
);
worker.on('error', () => {});
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close().then(() => process.exit(0)));
