/**
 * Publishing Batch lines to a work queue (`sluice enqueue --amqp`): persistent messages on a confirm
 * channel, the queue declared as the worker declares it. Publishes are pipelined: at most `window`
 * unconfirmed at once, so a million lines go out at the broker's speed with bounded memory.
 */
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { declareProblem, WORK_QUEUE } from './consumer.js';

export interface PublishOptions {
  /** AMQP priority 0–9 (higher first). */
  priority?: number;
  replyTo?: string;
  correlationId?: string;
  headers?: Record<string, string>;
}

export class AmqpPublisher {
  readonly #queue: string;
  readonly #window: number;
  #connection!: ChannelModel;
  #channel!: ConfirmChannel;
  #unconfirmed = 0;
  #waiters: (() => void)[] = [];
  #failure: Error | undefined;

  constructor(queue: string, window = 1000) {
    this.#queue = queue;
    this.#window = window;
  }

  async open(url: string): Promise<void> {
    this.#connection = await amqp.connect(url);
    this.#connection.on('error', () => {});
    this.#channel = await this.#connection.createConfirmChannel();
    this.#channel.on('error', () => {});
    try {
      await this.#channel.assertQueue(this.#queue, WORK_QUEUE);
    } catch (err) {
      throw declareProblem(this.#queue, err);
    }
  }

  /** Publishes one line; resolves when there is room for the next (not when it is confirmed). */
  async publish(text: string, options: PublishOptions = {}): Promise<void> {
    if (this.#failure) throw this.#failure;
    while (this.#unconfirmed >= this.#window) await new Promise<void>((r) => this.#waiters.push(r));
    this.#unconfirmed++;
    const ok = this.#channel.sendToQueue(
      this.#queue,
      Buffer.from(text, 'utf8'),
      {
        persistent: true,
        contentType: 'application/json',
        ...(options.priority === undefined ? {} : { priority: options.priority }),
        ...(options.replyTo === undefined ? {} : { replyTo: options.replyTo }),
        ...(options.correlationId === undefined ? {} : { correlationId: options.correlationId }),
        ...(options.headers === undefined ? {} : { headers: options.headers }),
      },
      (err) => {
        if (err) this.#failure ??= new Error(`RabbitMQ did not confirm a publish to ${this.#queue}`);
        this.#unconfirmed--;
        this.#waiters.shift()?.();
      },
    );
    if (!ok) await new Promise<void>((r) => this.#channel.once('drain', () => r()));
  }

  /** Waits for every confirm, then closes. Rejects when the broker refused one. */
  async close(): Promise<void> {
    try {
      await this.#channel.waitForConfirms();
    } finally {
      await this.#channel.close().catch(() => {});
      await this.#connection.close().catch(() => {});
    }
    if (this.#failure) throw this.#failure;
  }
}
