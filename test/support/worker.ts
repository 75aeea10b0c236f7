/**
 * Helpers for `sluice worker` tests: the shared RabbitMQ (127.0.0.1:5672, guest/guest; CI starts it)
 * with a fresh queue name per test, a reader of a results queue, and worker processes of the built CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type Channel, type ConsumeMessage } from 'amqplib';
import { CLI } from './batch.js';

export const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/** A queue name no other test uses. */
export function freshQueue(tag: string): string {
  return `sluice-test.${tag}.${process.pid}.${randomBytes(4).toString('hex')}`;
}

/** A connection to the shared RabbitMQ; says how to start one when none answers. */
export async function rabbit(): Promise<ChannelModel> {
  try {
    const c = await amqp.connect(AMQP_URL);
    c.on('error', () => {});
    return c;
  } catch (err) {
    throw new Error(
      `These tests need RabbitMQ at ${AMQP_URL} and none answered (${(err as Error).message}). Start one with \`rabbitmq-server -detached\` (.ci/run does this in CI).`,
    );
  }
}

export interface Received {
  body: {
    id: string;
    custom_id: string | null;
    response: { status_code: number; body: unknown } | null;
    error: { code: string; message: string } | null;
  };
  headers: Record<string, unknown>;
  correlationId: string | undefined;
}

/** Everything published to `queue`, as it arrives (consumed and acked). */
export async function collect(
  conn: ChannelModel,
  queue: string,
): Promise<{ items: Received[]; channel: Channel }> {
  const channel = await conn.createChannel();
  await channel.assertQueue(queue, { durable: true });
  const items: Received[] = [];
  await channel.consume(
    queue,
    (msg: ConsumeMessage | null) => {
      if (!msg) return;
      items.push({
        body: JSON.parse(msg.content.toString('utf8')) as Received['body'],
        headers: (msg.properties.headers ?? {}) as Record<string, unknown>,
        correlationId: msg.properties.correlationId as string | undefined,
      });
      channel.ack(msg);
    },
    { noAck: false },
  );
  return { items, channel };
}

/** Deletes the work queue and its results and dead queues. */
export async function dropQueues(conn: ChannelModel, queue: string, ...more: string[]): Promise<void> {
  const channel = await conn.createChannel();
  for (const q of [queue, `${queue}.results`, `${queue}.dead`, ...more]) await channel.deleteQueue(q);
  await channel.close();
}

export interface WorkerProcess {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Resolves once the worker says it is draining the queue. */
  ready: Promise<void>;
}

/** Starts `sluice worker` with `args` (the test key in the environment). */
export function launchWorker(args: string[], env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const child = spawn(process.execPath, [CLI, 'worker', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'], OPENAI_API_KEY: 'sk-test-worker', ...env },
  });
  let err = '';
  let onReady: () => void = () => {};
  let onFail: (e: Error) => void = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve;
    onFail = reject;
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
    if (err.includes('sluice worker: draining')) onReady();
  });
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      onFail(new Error(`the worker exited (${code}) before it was ready: ${err}`));
      resolve(code);
    }),
  );
  return { child, stderr: () => err, exited, ready };
}

/** Polls `check` every 25 ms; fails after `ms` naming `what`. */
export async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${ms} ms waiting for ${what}.`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** How many times each custom_id appears among the results. */
export function countIds(items: Received[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const id = item.body.custom_id ?? '(null)';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
