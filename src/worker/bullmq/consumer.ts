/**
 * The BullMQ transport of `sluice worker`: a BullMQ `Worker` on `queue` whose processor hands each
 * job's data (a Batch line) to the worker core. The data may carry the message's `x-sluice-*` headers
 * under `headers` (as an AMQP message carries them); the job's priority maps to the engine's class as
 * `sluice enqueue --priority` set it. A result line is the job's return value; an error
 * line is the failure reason of the job (it fails without retries: the engine retried already); a
 * malformed job fails with the reason. A quota stop returns the job to the queue with BullMQ's manual
 * rate limit for the probe interval (every worker of the queue waits), then one job probes.
 * The concurrency is the core's prefetch (from the pace).
 *
 * BullMQ completes a job and stores its return value in one step, so there is no "published but not
 * acknowledged" window to remember ids for; a job whose worker died is taken again by BullMQ's stalled
 * check and sent again (at most the jobs that worker held).
 */
import { Queue, UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Verdict, WorkerCore } from '../core.js';
import type { Flow } from '../flow.js';
import { classOfJobPriority, headerReader } from '../message.js';

export interface BullmqWorkerOptions {
  /** The Redis BullMQ uses (`redis://host:port/db`). */
  url: string;
  core: WorkerCore;
  log: (line: string) => void;
  /** BullMQ's key prefix. @default 'bull' */
  prefix?: string;
  /**
   * How long a job's lock lasts without renewal: a worker that died is noticed this long after, and its
   * jobs are taken again (BullMQ's `lockDuration`; the stalled check runs twice as often). @default 30000
   */
  lockMs?: number;
}

/** ioredis options from a `redis://` URL, as BullMQ needs them (no request retries limit). */
export function bullConnection(url: string): ConnectionOptions {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname,
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db === '' ? {} : { db: Number(db) }),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

export class BullmqWorker implements Flow {
  readonly #o: BullmqWorkerOptions;
  #worker: Worker | undefined;
  #queue: Queue | undefined;
  #failed: ((err: Error) => void) | undefined;

  constructor(options: BullmqWorkerOptions) {
    this.#o = options;
  }

  async start(): Promise<void> {
    const { core } = this.#o;
    const name = core.options.queue;
    const connection = bullConnection(this.#o.url);
    const prefix = this.#o.prefix ?? 'bull';
    this.#queue = new Queue(name, { connection, prefix });
    this.#queue.on('error', () => {});
    await this.#queue.waitUntilReady();
    this.#worker = new Worker(name, (job, token) => this.#process(job, token), {
      connection,
      prefix,
      concurrency: core.prefetch,
      autorun: false,
      ...(this.#o.lockMs === undefined
        ? {}
        : { lockDuration: this.#o.lockMs, stalledInterval: Math.max(100, Math.round(this.#o.lockMs / 2)) }),
    });
    this.#worker.on('error', (err) => this.#o.log(`BullMQ: ${err.message}`));
    core.attach(this);
    void this.#worker.run().catch((err: unknown) => this.#failed?.(err as Error));
    await this.#worker.waitUntilReady();
  }

  lost(): Promise<Error> {
    return new Promise<Error>((resolve) => (this.#failed = resolve));
  }

  async backlog(): Promise<number> {
    return this.#queue!.getJobCountByTypes('waiting', 'prioritized');
  }

  async setPrefetch(n: number): Promise<void> {
    if (this.#worker) this.#worker.concurrency = n;
  }

  async pause(): Promise<void> {
    // A quota stop pauses through BullMQ's rate limit (set when the job is returned); a stop, here.
    if (this.#o.core.state.kind === 'stopping') await this.#worker?.pause(true);
  }

  async resume(n: number): Promise<void> {
    if (this.#worker) this.#worker.concurrency = n;
  }

  async #process(job: Job, token: string | undefined): Promise<unknown> {
    const core = this.#o.core;
    const verdict = await this.#verdict(job);
    switch (verdict.kind) {
      case 'result':
        if (verdict.ok) return verdict.line;
        throw new UnrecoverableError(JSON.stringify(verdict.line));
      case 'dead':
        throw new UnrecoverableError(
          JSON.stringify({
            custom_id: verdict.customId,
            error: { code: verdict.code, message: verdict.reason },
          }),
        );
      case 'finished_before':
        return null;
      case 'requeue': {
        core.tally.requeued++;
        const state = core.state;
        if (verdict.reason === 'quota' && state.kind === 'paused') {
          await this.#worker!.rateLimit(Math.max(1, state.probeAt - Date.now()));
          throw Worker.RateLimitError();
        }
        await job.moveToWait(token);
        throw new WaitingError();
      }
    }
  }

  /** The core's verdict on a job: its data is a Batch line, with the message's headers under `headers`. */
  #verdict(job: Job): Promise<Verdict> {
    const data: unknown = job.data;
    let line = data;
    let headers: Record<string, string | number> | undefined;
    if (isRecord(data) && data.headers !== undefined) {
      const { headers: given, ...rest } = data;
      if (!isHeaderRecord(given)) {
        this.#o.core.tally.dead++;
        return Promise.resolve({
          kind: 'dead',
          customId: typeof rest.custom_id === 'string' ? rest.custom_id : null,
          code: 'invalid_header',
          reason: `the job's "headers" must be an object of strings or numbers, such as {"x-sluice-deadline": "2026-12-01T18:00:00Z"}; got ${JSON.stringify(given)}.`,
        });
      }
      line = rest;
      headers = given;
    }
    const priority = classOfJobPriority(job.priority);
    return this.#o.core.process({
      text: JSON.stringify(line),
      headers: headerReader(headers),
      redelivered: false,
      ...(priority === undefined ? {} : { priority }),
    });
  }

  async close(): Promise<void> {
    try {
      await this.#worker?.close();
    } finally {
      await this.#queue?.close();
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHeaderRecord(value: unknown): value is Record<string, string | number> {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string' || typeof v === 'number');
}
