/**
 * `sluice enqueue <file.jsonl>`: publishes a Batch file to a work queue for `sluice worker`, one
 * message per line. Lines that are not Batch requests are reported with their line numbers and not
 * published (a worker would only dead-letter them).
 */
import type { Command } from 'commander';
import { readLines } from '../batch/input.js';
import { type OptionTable } from '../formats/options.js';
import { text, whole, boolean, parseDuration } from '../formats/option-kinds.js';
import { checkBatchLine } from '../protocol/batch-line.js';
import type { AmqpPublisher } from '../worker/amqp/publish.js';
import type { BullmqPublisher } from '../worker/bullmq/publish.js';
import { showUrl } from './api-key.js';
import { addOptions, resolveFlags } from './options.js';
import { redisUrlProblem } from './redis.js';

export const ENQUEUE_FLAGS = {
  amqp: text({ placeholder: 'url', help: 'publish to RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672' }),
  bullmq: text({
    placeholder: 'redis-url',
    help: 'add to a BullMQ queue in this Redis, e.g. redis://127.0.0.1:6379',
  }),
  queue: text({ placeholder: 'name', help: 'the work queue (required)' }),
  priority: whole({
    min: 0,
    max: 9,
    placeholder: '0-9',
    help: 'message priority for every line, higher first',
  }),
  deadline: text({
    placeholder: 'time',
    help: 'every message expires then: an ISO date (2026-12-01T18:00:00Z), epoch ms, or a duration from now (2h); the worker answers deadline_exceeded without sending one taken later',
  }),
  replyTo: text({
    placeholder: 'queue',
    help: 'RabbitMQ: results go to this queue (reply_to) instead of <queue>.results',
  }),
  quiet: boolean({ default: false, help: 'no summary line' }),
} satisfies OptionTable;

/** Bad lines printed before the rest are only counted. */
const BAD_SHOWN = 20;

/** `--deadline` as the ISO date the worker reads from `x-sluice-deadline`; exits 2 when unreadable. */
function deadlineHeader(value: string, now = Date.now()): string {
  const t = value.trim();
  const fromNow = parseDuration(t);
  const ms = /^\d+$/.test(t) ? Number(t) : fromNow !== undefined ? now + fromNow : Date.parse(t);
  if (!Number.isFinite(ms)) {
    fail(
      `--deadline must be an ISO date (2026-12-01T18:00:00Z), epoch milliseconds or a duration from now (2h, 30m), got ${JSON.stringify(value)}.`,
    );
  }
  if (ms <= now) fail(`--deadline ${value} is already past: every message would expire unsent.`);
  return new Date(ms).toISOString();
}

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(2);
}

export function registerEnqueue(program: Command): void {
  const cmd = program
    .command('enqueue')
    .description(
      'Publish an OpenAI Batch file to a RabbitMQ or BullMQ queue, one message per line, for sluice worker.',
    )
    .argument('<input>', 'input JSONL: one {"custom_id","method":"POST","url","body"} per line');
  addOptions(cmd, ENQUEUE_FLAGS).addHelpText(
    'after',
    `
Messages are persistent and confirmed by the broker before the command exits. Lines that are not
Batch requests are listed on stderr with their numbers and not published; the exit status is then 1.

Examples:
  $ sluice enqueue examples/requests.jsonl --amqp amqp://127.0.0.1 --queue prompts
  $ sluice enqueue urgent.jsonl --amqp amqp://127.0.0.1 --queue prompts --priority 9
  $ sluice enqueue today.jsonl --amqp amqp://127.0.0.1 --queue prompts --deadline 6h
  $ sluice enqueue examples/requests.jsonl --bullmq redis://127.0.0.1:6379 --queue prompts

Reference: docs/worker.md`,
  );
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));
  cmd.action(async (input: string) => {
    const { options: flags } = resolveFlags(cmd, ENQUEUE_FLAGS);
    if ((flags.amqp === undefined) === (flags.bullmq === undefined)) {
      fail('give one broker: --amqp <url> (RabbitMQ) or --bullmq <redis-url> (BullMQ).');
    }
    if (flags.queue === undefined || flags.queue === '')
      fail('--queue <name> is required, e.g. --queue prompts.');
    if (flags.amqp !== undefined && !/^amqps?:\/\//.test(flags.amqp)) {
      fail(`--amqp must be an amqp:// or amqps:// URL, got ${JSON.stringify(showUrl(flags.amqp))}.`);
    }
    if (flags.bullmq !== undefined) {
      const problem = redisUrlProblem(flags.bullmq);
      if (problem) fail(problem.replace('--redis', '--bullmq'));
    }
    if (flags.replyTo !== undefined && flags.bullmq !== undefined) {
      fail("--reply-to is for RabbitMQ; a BullMQ result is the job's return value.");
    }
    const headers =
      flags.deadline === undefined ? undefined : { 'x-sluice-deadline': deadlineHeader(flags.deadline) };
    let publisher: AmqpPublisher | BullmqPublisher;
    try {
      if (flags.amqp !== undefined) {
        const { AmqpPublisher } = await import('../worker/amqp/publish.js');
        const p = new AmqpPublisher(flags.queue);
        await p.open(flags.amqp);
        publisher = p;
      } else {
        const { BullmqPublisher } = await import('../worker/bullmq/publish.js');
        const p = new BullmqPublisher(flags.bullmq!, flags.queue);
        await p.open();
        publisher = p;
      }
    } catch (err) {
      fail(`${flags.amqp !== undefined ? 'RabbitMQ' : 'BullMQ'}: ${(err as Error)?.message ?? String(err)}`);
    }
    let published = 0;
    let bad = 0;
    try {
      for await (const raw of readLines(input)) {
        const checked = checkBatchLine(raw.text);
        if (!checked.ok) {
          if (bad < BAD_SHOWN) process.stderr.write(`${input}: line ${raw.line}: ${checked.message}\n`);
          bad++;
          continue;
        }
        await publisher.publish(raw.text, {
          ...(flags.priority === undefined ? {} : { priority: flags.priority }),
          ...(headers === undefined ? {} : { headers }),
          ...(flags.replyTo === undefined
            ? {}
            : { replyTo: flags.replyTo, correlationId: checked.request.customId }),
        });
        published++;
      }
      await publisher.close();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        fail(`cannot read ${input}: ${(err as Error).message}`);
      }
      process.stderr.write(
        `error: ${(err as Error)?.message ?? String(err)} (${published} lines published before it).\n`,
      );
      process.exit(1);
    }
    if (bad > BAD_SHOWN) process.stderr.write(`${input}: ${bad - BAD_SHOWN} more bad lines.\n`);
    if (!flags.quiet) {
      process.stderr.write(
        `enqueued ${published} lines to ${flags.queue}${bad > 0 ? `; ${bad} bad lines not published` : ''}.\n`,
      );
    }
    process.exit(bad > 0 ? 1 : 0);
  });
}
