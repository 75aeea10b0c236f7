/**
 * The RabbitMQ transport of `sluice worker` (amqplib): consumes `queue` on one confirm channel, hands
 * each message to the worker core and does what its verdict says.
 *
 * - A result is published to the message's `reply_to` (with its `correlation_id`) or to the results
 *   queue, persistent; the broker's confirm comes first, then the custom_id is remembered, then the
 *   message is acknowledged. A crash at any point before the ack redelivers the message.
 * - A malformed message goes to `<queue>.dead` with the reason in `x-sluice-dead-reason` (confirmed,
 *   then acked): never requeued forever.
 * - A quota stop cancels the consumer (the backlog stays in the broker) and returns the messages held;
 *   the core resumes with one message as the probe, then the full prefetch.
 * - The prefetch is the core's (from the pace); a change re-creates the consumer with the new count.
 *
 * Queues are declared durable, the work queue with `x-max-priority` so message priorities order it.
 */
import amqp, { type ConfirmChannel, type ChannelModel, type ConsumeMessage, type Options } from 'amqplib';
import type { Delivery, WorkerCore } from '../core.js';
import type { Flow } from '../flow.js';
import { classOfPriority, headerReader } from '../message.js';

/** The priorities a work queue is declared with (AMQP `priority` 0–9 is honoured). */
export const MAX_PRIORITY = 10;

/** The arguments of a work queue, the same for the worker and `sluice enqueue`. */
export const WORK_QUEUE: Options.AssertQueue = {
  durable: true,
  arguments: { 'x-max-priority': MAX_PRIORITY },
};

export interface AmqpWorkerOptions {
  url: string;
  core: WorkerCore;
  log: (line: string) => void;
}

/** A queue declared with other arguments than ours (RabbitMQ closes the channel): said plainly. */
export function declareProblem(queue: string, err: unknown): Error {
  const message = (err as Error)?.message ?? String(err);
  if (/PRECONDITION_FAILED/.test(message)) {
    return new Error(
      `the queue ${JSON.stringify(queue)} exists with other settings than a work queue (durable, x-max-priority ${MAX_PRIORITY}): ${message}. Delete it (rabbitmqctl delete_queue ${queue}) or use another --queue.`,
    );
  }
  return new Error(`cannot declare the queue ${JSON.stringify(queue)}: ${message}`);
}

export class AmqpWorker implements Flow {
  readonly #o: AmqpWorkerOptions;
  readonly #queue: string;
  readonly #results: string;
  readonly #dead: string;
  #connection!: ChannelModel;
  #channel!: ConfirmChannel;
  #tag: string | undefined;
  #closing = false;
  /** Messages handed to the core and not yet acked or returned. */
  #open = 0;
  #failed: ((err: Error) => void) | undefined;

  constructor(options: AmqpWorkerOptions) {
    this.#o = options;
    this.#queue = options.core.options.queue;
    this.#results = options.core.options.results ?? `${this.#queue}.results`;
    this.#dead = `${this.#queue}.dead`;
  }

  /** Connects, declares the queues and starts consuming. Rejects when the broker cannot be used. */
  async start(): Promise<void> {
    this.#connection = await amqp.connect(this.#o.url);
    this.#connection.on('error', () => {});
    this.#connection.on('close', () => {
      if (!this.#closing) this.#failed?.(new Error('the connection to RabbitMQ closed'));
    });
    this.#channel = await this.#connection.createConfirmChannel();
    this.#channel.on('error', () => {});
    try {
      await this.#channel.assertQueue(this.#queue, WORK_QUEUE);
    } catch (err) {
      throw declareProblem(this.#queue, err);
    }
    await this.#channel.assertQueue(this.#results, { durable: true });
    await this.#channel.assertQueue(this.#dead, { durable: true });
    this.#o.core.attach(this);
    await this.#consume(this.#o.core.prefetch);
  }

  /** Resolves when the connection fails (a broker gone away); the worker then exits for a restart. */
  lost(): Promise<Error> {
    return new Promise<Error>((resolve) => (this.#failed = resolve));
  }

  /** Messages waiting in the queue (not counting those held by consumers). */
  async backlog(): Promise<number> {
    return (await this.#channel.checkQueue(this.#queue)).messageCount;
  }

  async setPrefetch(n: number): Promise<void> {
    if (this.#tag === undefined) return;
    await this.#cancel();
    await this.#consume(n);
  }

  async pause(): Promise<void> {
    await this.#cancel();
  }

  async resume(n: number): Promise<void> {
    if (this.#closing) return;
    await this.#cancel();
    await this.#consume(n);
  }

  async #consume(n: number): Promise<void> {
    if (this.#closing) return;
    await this.#channel.prefetch(n);
    const { consumerTag } = await this.#channel.consume(this.#queue, (msg) => void this.#on(msg), {
      noAck: false,
    });
    this.#tag = consumerTag;
  }

  async #cancel(): Promise<void> {
    const tag = this.#tag;
    this.#tag = undefined;
    if (tag !== undefined) await this.#channel.cancel(tag);
  }

  async #on(msg: ConsumeMessage | null): Promise<void> {
    if (msg === null) {
      this.#o.log(`RabbitMQ cancelled the consumer of ${this.#queue} (the queue was deleted?).`);
      this.#tag = undefined;
      return;
    }
    this.#open++;
    try {
      await this.#handle(msg);
    } catch (err) {
      // A publish or confirm that failed: the message is not acked, so the broker delivers it again.
      this.#o.log(
        `Could not finish a message: ${(err as Error)?.message ?? String(err)}; it is returned to the queue.`,
      );
      try {
        this.#channel.nack(msg, false, true);
      } catch {
        // The channel is gone: the broker redelivers the message anyway.
      }
    } finally {
      this.#open--;
    }
  }

  async #handle(msg: ConsumeMessage): Promise<void> {
    const core = this.#o.core;
    const props = msg.properties;
    const priority = classOfPriority(typeof props.priority === 'number' ? props.priority : undefined);
    const delivery: Delivery = {
      text: msg.content.toString('utf8'),
      headers: headerReader(props.headers),
      redelivered: msg.fields.redelivered,
      ...(priority === undefined ? {} : { priority }),
    };
    const verdict = await core.process(delivery);
    switch (verdict.kind) {
      case 'result': {
        const replyTo = typeof props.replyTo === 'string' && props.replyTo !== '' ? props.replyTo : undefined;
        await this.#publish(replyTo ?? this.#results, Buffer.from(JSON.stringify(verdict.line)), {
          persistent: true,
          contentType: 'application/json',
          messageId: verdict.line.id,
          ...(props.correlationId === undefined ? {} : { correlationId: props.correlationId }),
          headers: { 'x-sluice-custom-id': verdict.customId, 'x-sluice-ok': verdict.ok },
        });
        try {
          await core.published(verdict.customId);
        } catch (err) {
          this.#o.log(
            `Could not remember ${JSON.stringify(verdict.customId)} as finished (${(err as Error).message}); a redelivery would send it again.`,
          );
        }
        this.#channel.ack(msg);
        return;
      }
      case 'dead':
        await this.#publish(this.#dead, msg.content, {
          persistent: true,
          ...(props.contentType === undefined ? {} : { contentType: props.contentType }),
          ...(props.correlationId === undefined ? {} : { correlationId: props.correlationId }),
          headers: {
            ...(props.headers ?? {}),
            'x-sluice-dead-reason': verdict.reason,
            'x-sluice-dead-code': verdict.code,
            ...(verdict.customId === null ? {} : { 'x-sluice-custom-id': verdict.customId }),
          },
        });
        this.#channel.ack(msg);
        return;
      case 'finished_before':
        this.#channel.ack(msg);
        return;
      case 'requeue':
        await core.flowSettled();
        core.tally.requeued++;
        this.#channel.nack(msg, false, true);
        return;
    }
  }

  /** Publishes to a queue and waits for the broker's confirm; rejects on a nack. */
  #publish(queue: string, content: Buffer, options: Options.Publish): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#channel.sendToQueue(queue, content, options, (err) =>
        err ? reject(new Error(`RabbitMQ did not confirm the publish to ${queue}`)) : resolve(),
      );
    });
  }

  /** Stops consuming and waits until every held message is acked or returned; then closes. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      await this.#cancel();
      while (this.#open > 0) await new Promise((r) => setTimeout(r, 20));
      await this.#channel.close();
    } catch {
      // Already closed.
    }
    try {
      await this.#connection.close();
    } catch {
      // Already closed.
    }
  }
}
