/**
 * Adding Batch lines to a BullMQ queue (`sluice enqueue --bullmq`): one job per line, its data the
 * line's JSON (with the message's `x-sluice-*` headers under `headers` when there are any), added in
 * bulk (a thousand per round trip).
 */
import { Queue } from 'bullmq';
import { bullConnection } from './consumer.js';

/** The job name every line is added under. */
export const JOB_NAME = 'batch-line';

export class BullmqPublisher {
  readonly #queue: Queue;
  readonly #chunk: number;
  #pending: { name: string; data: unknown; opts?: { priority: number } }[] = [];

  constructor(url: string, queue: string, options: { prefix?: string; chunk?: number } = {}) {
    this.#queue = new Queue(queue, { connection: bullConnection(url), prefix: options.prefix ?? 'bull' });
    this.#queue.on('error', () => {});
    this.#chunk = options.chunk ?? 1000;
  }

  async open(): Promise<void> {
    await this.#queue.waitUntilReady();
  }

  /**
   * Adds one line. `priority` is AMQP-style, 0–9, higher first; BullMQ's own priority is 1 (first) and
   * up, so 9 becomes 1 and 0 becomes 10. `headers` go into the job's data, where the worker reads them.
   */
  async publish(
    text: string,
    options: { priority?: number; headers?: Record<string, string> } = {},
  ): Promise<void> {
    const line = JSON.parse(text) as Record<string, unknown>;
    this.#pending.push({
      name: JOB_NAME,
      data: options.headers === undefined ? line : { ...line, headers: options.headers },
      ...(options.priority === undefined ? {} : { opts: { priority: 10 - options.priority } }),
    });
    if (this.#pending.length >= this.#chunk) await this.#flush();
  }

  async #flush(): Promise<void> {
    const jobs = this.#pending;
    this.#pending = [];
    if (jobs.length > 0) await this.#queue.addBulk(jobs);
  }

  async close(): Promise<void> {
    try {
      await this.#flush();
    } finally {
      await this.#queue.close();
    }
  }
}
