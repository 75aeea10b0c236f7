/**
 * The BullMQ transport of `sluice worker`: a BullMQ `Worker` on `queue` whose processor hands each
 * job's data (a Batch line) to the worker core. A result line is the job's return value; an error
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
import type { Delivery, Flow, WorkerCore } from '../core.js';

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

const NO_HEADERS = { get: () => null };

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
    const delivery: Delivery = {
      text: JSON.stringify(job.data),
      headers: NO_HEADERS,
      redelivered: false,
    };
    const verdict = await core.process(delivery);
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

  async close(): Promise<void> {
    try {
      await this.#worker?.close();
    } finally {
      await this.#queue?.close();
    }
  }
}
