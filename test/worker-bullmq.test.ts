/**
 * `sluice worker --bullmq`: spawned worker processes of the built CLI against the emulator, on a fresh
 * BullMQ queue per test in the shared Redis.
 */
import { Queue, type Job } from 'bullmq';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startMock, type MockServer } from '../src/mock/index.js';
import { bullConnection } from '../src/worker/bullmq/consumer.js';
import { BullmqPublisher } from '../src/worker/bullmq/publish.js';
import { chatLine, CLI, startCountingProxy, tempDir } from './support/batch.js';
import { freshPrefix, REDIS_URL, removeKeys, sharedRedis } from './support/redis.js';
import { freshQueue, launchWorker, until, type WorkerProcess } from './support/worker.js';

const workers: WorkerProcess[] = [];
const mocks: MockServer[] = [];
const queues: Queue[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  for (const w of workers.splice(0)) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  for (const m of mocks.splice(0)) await m.close();
  for (const q of queues.splice(0)) {
    await q.obliterate({ force: true });
    await q.close();
  }
  if (prefixes.length > 0) {
    const redis = await sharedRedis();
    for (const p of prefixes.splice(0)) await removeKeys(redis, p);
    redis.disconnect();
  }
});

async function mock(options: Parameters<typeof startMock>[0]): Promise<MockServer> {
  const m = await startMock(options);
  mocks.push(m);
  return m;
}

async function queueFor(tag: string): Promise<{ name: string; queue: Queue }> {
  const name = freshQueue(tag);
  const queue = new Queue(name, { connection: bullConnection(REDIS_URL) });
  queues.push(queue);
  await queue.waitUntilReady();
  return { name, queue };
}

async function enqueue(name: string, lines: string[], options: { priority?: number } = {}): Promise<void> {
  const p = new BullmqPublisher(REDIS_URL, name);
  await p.open();
  for (const line of lines) await p.publish(line, options);
  await p.close();
}

function worker(name: string, baseUrl: string, ...extra: string[]): WorkerProcess {
  const w = launchWorker([
    '--bullmq',
    REDIS_URL,
    '--queue',
    name,
    '--base-url',
    baseUrl,
    '--quiet',
    ...extra,
  ]);
  workers.push(w);
  return w;
}

const ids = (n: number, tag = 'm') => Array.from({ length: n }, (_, i) => `${tag}-${i + 1}`);

interface Line {
  custom_id: string | null;
  response: { status_code: number } | null;
  error: { code: string; message: string } | null;
}

async function ended(queue: Queue): Promise<{ completed: Job[]; failed: Job[] }> {
  return { completed: await queue.getJobs(['completed']), failed: await queue.getJobs(['failed']) };
}

async function untilEnded(queue: Queue, n: number, what: string, ms = 20_000): Promise<void> {
  let count = 0;
  const poll = setInterval(() => {
    void queue
      .getJobCounts('completed', 'failed')
      .then((c) => (count = (c['completed'] ?? 0) + (c['failed'] ?? 0)));
  }, 50);
  try {
    await until(() => count >= n, what, ms);
  } finally {
    clearInterval(poll);
  }
}

describe('sluice worker --bullmq', () => {
  it('three workers sharing Redis limits drain one queue: every job completes once with its result line, no 429', async () => {
    const m = await mock({ rpm: 240, tpm: 1_000_000, burstSeconds: 5, latencyMs: 50 });
    const { name, queue } = await queueFor('bull-three');
    const prefix = freshPrefix();
    prefixes.push(prefix);
    const all = ids(40);
    await enqueue(
      name,
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
      worker(name, m.url, ...extra),
      worker(name, m.url, ...extra),
      worker(name, m.url, ...extra),
    ];
    await Promise.all(started.map((w) => w.ready));
    await untilEnded(queue, all.length, 'every job', 30_000);
    const { completed, failed } = await ended(queue);
    expect(failed).toEqual([]);
    const lines = completed.map((j) => j.returnvalue as Line);
    expect(lines.map((l) => l.custom_id).sort()).toEqual([...all].sort());
    expect(lines.every((l) => l.error === null && l.response?.status_code === 200)).toBe(true);
    // 12 held at most against a burst of 20: the pace is the shared limit's (4/s), never the window's.
    expect(m.stats().rejected.total).toBe(0);
    expect(m.stats().admitted).toBe(all.length);
  }, 40_000);

  it('kill -9 of a worker mid-run: its jobs are taken again and every job completes; repeated calls at most the jobs active when it died', async () => {
    const m = await mock({ rpm: 600, tpm: 1_000_000, burstSeconds: 1, latencyMs: 300 });
    const proxy = await startCountingProxy(m.url);
    const { name, queue } = await queueFor('bull-kill');
    const all = ids(30);
    await enqueue(
      name,
      all.map((id) => chatLine(id)),
    );
    const extra = ['--concurrency', '4', '--bullmq-lock', '4s'];
    const victim = worker(name, proxy.url, ...extra);
    const survivor = worker(name, proxy.url, ...extra);
    await Promise.all([victim.ready, survivor.ready]);
    await untilEnded(queue, 8, 'the first jobs');
    const inFlight = await queue.getActiveCount();
    victim.child.kill('SIGKILL');
    await victim.exited;
    await untilEnded(queue, all.length, 'every job', 30_000);
    await proxy.close();
    const { completed, failed } = await ended(queue);
    expect(failed).toEqual([]);
    expect(completed.map((j) => (j.returnvalue as Line).custom_id).sort()).toEqual([...all].sort());
    const repeated = [...proxy.counts.values()].reduce((sum, n) => sum + (n - 1), 0);
    expect(repeated).toBeLessThanOrEqual(inFlight);
  }, 40_000);

  it('a quota stop returns the jobs to the queue and pauses; a probe finds the quota back and the rest complete', async () => {
    const m = await mock({ rpm: 6000, tpm: 10_000_000, quotaRequests: 5 });
    const { name, queue } = await queueFor('bull-quota');
    const all = ids(10);
    await enqueue(
      name,
      all.map((id) => chatLine(id)),
    );
    const w = worker(name, m.url, '--concurrency', '2', '--quota-probe', '1s');
    await w.ready;
    await until(() => m.stats().rejected.quota >= 1, 'a quota error');
    await new Promise((r) => setTimeout(r, 1500));
    expect((await ended(queue)).completed.length).toBe(5);
    expect((await ended(queue)).failed).toEqual([]);
    expect(await queue.getJobCountByTypes('waiting', 'prioritized')).toBe(5);
    m.reset();
    await untilEnded(queue, all.length, 'the rest after the quota is back');
    const { completed, failed } = await ended(queue);
    expect(failed).toEqual([]);
    expect(completed).toHaveLength(all.length);
  }, 30_000);

  it('a malformed job fails with the reason; a 400 answer fails its job with the error line', async () => {
    const m = await mock({});
    const { name, queue } = await queueFor('bull-bad');
    await queue.add('batch-line', { custom_id: 'x', method: 'GET', url: '/v1/chat/completions', body: {} });
    await enqueue(name, [
      chatLine('good'),
      JSON.stringify({
        custom_id: 'no-messages',
        method: 'POST',
        url: '/v1/chat/completions',
        body: { model: 'gpt-4o-mini' },
      }),
    ]);
    const w = worker(name, m.url);
    await w.ready;
    await untilEnded(queue, 3, 'three jobs');
    const { completed, failed } = await ended(queue);
    expect(completed.map((j) => (j.returnvalue as Line).custom_id)).toEqual(['good']);
    const reasons = new Map(
      failed.map((j) => {
        const line = JSON.parse(j.failedReason) as Line;
        return [line.custom_id, line] as const;
      }),
    );
    expect(reasons.get('x')?.error?.code).toBe('unsupported_method');
    expect(reasons.get('no-messages')?.error?.code).toBe('upstream_rejected');
    expect(reasons.get('no-messages')?.response?.status_code).toBe(400);
    expect(failed.every((j) => j.attemptsMade === 1)).toBe(true);
  });

  it("a job's headers are read as a message's: past its x-sluice-deadline it fails deadline_exceeded unsent; headers that are not an object of strings fail invalid_header", async () => {
    const m = await mock({});
    const { name, queue } = await queueFor('bull-headers');
    const line = (id: string) => JSON.parse(chatLine(id)) as Record<string, unknown>;
    await queue.add('batch-line', {
      ...line('late'),
      headers: { 'X-Sluice-Deadline': String(Date.now() - 60_000) },
    });
    await queue.add('batch-line', { ...line('bad'), headers: ['x-sluice-deadline'] });
    await queue.add('batch-line', {
      ...line('on-time'),
      headers: { 'x-sluice-deadline': '2999-01-01T00:00:00Z' },
    });
    const w = worker(name, m.url);
    await w.ready;
    await untilEnded(queue, 3, 'three jobs');
    const { completed, failed } = await ended(queue);
    expect(completed.map((j) => (j.returnvalue as Line).custom_id)).toEqual(['on-time']);
    const codes = new Map(
      failed.map((j) => [(JSON.parse(j.failedReason) as Line).custom_id, j.failedReason]),
    );
    expect(JSON.parse(codes.get('late')!)).toMatchObject({ error: { code: 'deadline_exceeded' } });
    expect(JSON.parse(codes.get('bad')!)).toMatchObject({ error: { code: 'invalid_header' } });
    expect(m.stats().received).toBe(1);
  });

  it("sluice enqueue --deadline puts the deadline in every job's headers; a past or unreadable one exits 2 naming the flag", async () => {
    const { name, queue } = await queueFor('bull-enqueue-deadline');
    const file = join(tempDir(), 'in.jsonl');
    writeFileSync(file, [chatLine('a'), chatLine('b')].join('\n') + '\n');
    const run = (deadline: string) =>
      spawnSync(
        process.execPath,
        [CLI, 'enqueue', file, '--bullmq', REDIS_URL, '--queue', name, '--deadline', deadline],
        {
          encoding: 'utf8',
        },
      );
    const before = Date.now();
    expect(run('2h').status).toBe(0);
    const jobs = await queue.getJobs(['waiting']);
    expect(jobs).toHaveLength(2);
    for (const job of jobs) {
      const at = Date.parse((job.data as { headers: Record<string, string> }).headers['x-sluice-deadline']!);
      expect(at).toBeGreaterThanOrEqual(before + 2 * 3_600_000);
      expect((job.data as { custom_id: string }).custom_id).toMatch(/^[ab]$/);
    }
    for (const bad of ['2001-01-01T00:00:00Z', 'soonish']) {
      const r = run(bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('--deadline');
    }
    expect(await queue.getJobCountByTypes('waiting')).toBe(2);
  });

  it('SIGTERM: jobs on the wire complete, the rest stay queued, exit 0', async () => {
    const m = await mock({ rpm: 6000, tpm: 10_000_000, latencyMs: 1500 });
    const { name, queue } = await queueFor('bull-term');
    const all = ids(20);
    await enqueue(
      name,
      all.map((id) => chatLine(id)),
    );
    const w = worker(name, m.url, '--concurrency', '3');
    await w.ready;
    // The first request goes alone (the engine learns the limits from its answer), then three at once.
    await until(() => m.stats().received >= 4, 'three requests on the wire');
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(m.stats().received).toBe(4);
    const { completed, failed } = await ended(queue);
    expect(completed).toHaveLength(4);
    expect(failed).toEqual([]);
    expect(await queue.getJobCountByTypes('waiting', 'prioritized')).toBe(all.length - 4);
  }, 30_000);

  it('jobs are taken in priority order', async () => {
    const m = await mock({});
    const { name, queue } = await queueFor('bull-prio');
    const low = ids(6, 'low');
    const high = ids(6, 'high');
    await enqueue(
      name,
      low.map((id) => chatLine(id)),
      { priority: 1 },
    );
    await enqueue(
      name,
      high.map((id) => chatLine(id)),
      { priority: 9 },
    );
    const w = worker(name, m.url, '--concurrency', '1');
    await w.ready;
    await untilEnded(queue, 12, 'every job');
    const { completed } = await ended(queue);
    const order = completed.sort(
      (a, b) => (a.finishedOn ?? 0) - (b.finishedOn ?? 0) || (a.processedOn ?? 0) - (b.processedOn ?? 0),
    );
    expect(
      order
        .slice(0, 6)
        .map((j) => (j.returnvalue as Line).custom_id)
        .sort(),
    ).toEqual([...high].sort());
  });
});
