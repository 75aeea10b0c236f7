/**
 * `sluice worker`: drains a RabbitMQ queue (`--amqp`) or a BullMQ queue (`--bullmq`) of Batch lines
 * at the pace the account allows. Wiring only: the core is `src/worker/core.ts`, the transports are
 * `src/worker/amqp/` and `src/worker/bullmq/`.
 */
import type { Server } from 'node:http';
import type { Command } from 'commander';
import { keyRedactor, type Redactor } from '../batch/redact.js';
import { type OptionTable } from '../formats/options.js';
import { boolean, duration, text, whole } from '../formats/option-kinds.js';
import { startMock, type MockServer } from '../mock/index.js';
import { WorkerCore } from '../worker/core.js';
import { portOf, serveMetrics, workerRegistry } from '../worker/metrics.js';
import { WORKER_DEFAULTS, WORKER_OPTIONS, type WorkerOptions } from '../worker/options.js';
import { redisFinished } from '../worker/remember.js';
import { ACCESS_FLAGS, readAccess, showUrl } from './api-key.js';
import { EMBEDDED_MOCK } from './batch.js';
import { addOptions, resolveFlags } from './options.js';
import { openRedisStore, redisUrlProblem } from './redis.js';

/** `sluice worker`'s flags: the worker's own options, and what only the command line has. */
export const WORKER_FLAGS = {
  amqp: text({ placeholder: 'url', help: 'consume from RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672' }),
  bullmq: text({
    placeholder: 'redis-url',
    help: 'process a BullMQ queue in this Redis, e.g. redis://127.0.0.1:6379',
  }),
  queue: WORKER_OPTIONS.queue,
  results: WORKER_OPTIONS.results,
  ...ACCESS_FLAGS,
  rpm: WORKER_OPTIONS.rpm,
  tpm: WORKER_OPTIONS.tpm,
  concurrency: WORKER_OPTIONS.concurrency,
  priority: WORKER_OPTIONS.priority,
  redis: text({
    placeholder: 'url',
    help: 'share limits with other workers (and gateways, batch runs) through Redis; finished ids are remembered there',
  }),
  redisPrefix: text({
    default: 'sluice:',
    placeholder: 'prefix',
    help: 'namespace of the keys in Redis (workers that share limits use the same one)',
  }),
  graceMs: WORKER_OPTIONS.graceMs,
  quotaProbeMs: WORKER_OPTIONS.quotaProbeMs,
  rememberMs: WORKER_OPTIONS.rememberMs,
  bullmqLock: duration({
    default: 30_000,
    placeholder: 'duration',
    help: "BullMQ: a job's lock; a worker that died is noticed this long after and its jobs are taken again",
  }),
  metricsPort: whole({
    min: 0,
    max: 65535,
    placeholder: 'port',
    help: 'serve GET /metrics (Prometheus) on this port',
  }),
  metricsHost: text({ default: '127.0.0.1', placeholder: 'host', help: 'the address /metrics listens on' }),
  quiet: boolean({ default: false, help: 'no progress lines; problems are still printed' }),
} satisfies OptionTable;

let redact: Redactor = keyRedactor(undefined);

function say(line: string): void {
  process.stderr.write(`${redact.text(line)}\n`);
}

function fail(message: string): never {
  say(`error: ${message}`);
  process.exit(2);
}

/** Registers `sluice worker`. */
export function registerWorker(program: Command): void {
  const cmd = program
    .command('worker')
    .description(
      'Drain a RabbitMQ or BullMQ queue of OpenAI Batch lines at the pace the account allows: results to a results queue, nothing lost on a crash.',
    );
  addOptions(cmd, WORKER_FLAGS).addHelpText(
    'after',
    `
A message is one OpenAI Batch input line, {"custom_id","method":"POST","url","body"} — the lines
of a file for sluice batch. Its result is one Batch output line (an error line when it failed):
  RabbitMQ  published to <queue>.results (or --results), or to the message's reply_to with its
            correlation_id; the message is acked only after the broker confirmed the result.
  BullMQ    the job's return value; a failed job's reason is the error line.
A malformed message goes to <queue>.dead (BullMQ: the job fails) with the reason; it is never
retried. A 400/401/404 answer is an error result. A quota error pauses consumption (messages stay
queued); one message probes the quota every --quota-probe, and consumption resumes by itself.

The worker holds only as many messages as its pace needs (rate x latency): the backlog stays in
the broker. Per message: the AMQP priority property (0-9; 7+ interactive, 4-6 default, 0-3
batch) or the BullMQ job priority, and the headers x-sluice-priority, x-sluice-max-wait-ms and
x-sluice-deadline (epoch ms or ISO date; past it the message is not sent) - for BullMQ as an
object under "headers" in the job's data. Several workers share one account's limits with
--redis; they also remember finished custom_ids there, so a redelivered message is not sent twice.

SIGTERM (or Ctrl-C): stop taking messages, let requests on the wire finish for --grace, return the
rest to the queue, exit 0. A progress line every ${WORKER_DEFAULTS.progressEveryMs / 1000} s on stderr.

Examples:
  Try the whole path without an account (the built-in emulator, 500 RPM):
    $ sluice enqueue examples/requests.jsonl --amqp amqp://127.0.0.1 --queue prompts
    $ sluice worker --amqp amqp://127.0.0.1 --queue prompts --base-url mock

  Three workers on two hosts sharing one key's limits:
    $ export OPENAI_API_KEY=sk-...
    $ sluice worker --amqp amqp://mq.internal --queue prompts --redis redis://redis.internal:6379

  A BullMQ queue, with /metrics for Prometheus:
    $ sluice worker --bullmq redis://127.0.0.1:6379 --queue prompts --metrics-port 9464

Reference: docs/worker.md`,
  );
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  cmd.action(async () => {
    const { options: flags } = resolveFlags(cmd, WORKER_FLAGS);
    if ((flags.amqp === undefined) === (flags.bullmq === undefined)) {
      fail(
        'give one broker: --amqp <url> (RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672) or --bullmq <redis-url> (e.g. redis://127.0.0.1:6379).',
      );
    }
    if (flags.queue === undefined || flags.queue === '') {
      fail('--queue <name> is required: the queue to drain, e.g. --queue prompts.');
    }
    if (flags.amqp !== undefined && !/^amqps?:\/\//.test(flags.amqp)) {
      fail(`--amqp must be an amqp:// or amqps:// URL, got ${JSON.stringify(showUrl(flags.amqp))}.`);
    }
    if (flags.bullmq !== undefined) {
      const problem = redisUrlProblem(flags.bullmq);
      if (problem) fail(problem.replace('--redis', '--bullmq'));
    }
    if (flags.redis !== undefined) {
      const problem = redisUrlProblem(flags.redis);
      if (problem) fail(problem);
    }
    const access = readAccess(flags);
    if (!access.ok) fail(access.message);
    redact = keyRedactor(access.apiKey);

    let mock: MockServer | undefined;
    let baseUrl = access.baseUrl;
    if (access.mock) {
      mock = await startMock(EMBEDDED_MOCK);
      baseUrl = mock.url;
      say(
        `--base-url mock: using the built-in emulator at ${mock.url} — ${EMBEDDED_MOCK.rpm} RPM and ${EMBEDDED_MOCK.tpm} TPM per model. No account needed; nothing leaves this machine.`,
      );
    }

    const options: WorkerOptions = {
      queue: flags.queue,
      baseUrl,
      ...(flags.results === undefined ? {} : { results: flags.results }),
      ...(access.apiKey === undefined ? {} : { apiKey: access.apiKey }),
      ...(flags.rpm === undefined ? {} : { rpm: flags.rpm }),
      ...(flags.tpm === undefined ? {} : { tpm: flags.tpm }),
      ...(flags.concurrency === undefined ? {} : { concurrency: flags.concurrency }),
      priority: flags.priority,
      graceMs: flags.graceMs,
      quotaProbeMs: flags.quotaProbeMs,
      rememberMs: flags.rememberMs,
      ...(flags.redis === undefined
        ? {}
        : { store: await openRedisStore(flags.redis, say, flags.redisPrefix) }),
    };
    const core = new WorkerCore(options, {
      ...(flags.redis === undefined ? {} : { finished: await redisFinished(flags.redis, flags.redisPrefix) }),
      log: say,
    });

    // The queue client library loads only for the transport in use.
    const transport =
      flags.amqp !== undefined
        ? new (await import('../worker/amqp/consumer.js')).AmqpWorker({ url: flags.amqp, core, log: say })
        : new (await import('../worker/bullmq/consumer.js')).BullmqWorker({
            url: flags.bullmq!,
            core,
            log: say,
            lockMs: flags.bullmqLock,
          });
    const where =
      flags.amqp !== undefined
        ? `RabbitMQ ${showUrl(flags.amqp)}, results to ${flags.results ?? `${flags.queue}.results`} (or reply_to)`
        : `BullMQ at ${showUrl(flags.bullmq!)}`;
    try {
      await transport.start();
    } catch (err) {
      await mock?.close();
      await core.close();
      fail(`${flags.amqp !== undefined ? 'RabbitMQ' : 'BullMQ'}: ${(err as Error)?.message ?? String(err)}`);
    }
    say(
      `sluice worker: draining ${flags.queue} on ${where}; ${flags.concurrency === undefined ? 'holding as many messages as the pace needs' : `holding at most ${flags.concurrency} messages`}.`,
    );

    let metricsServer: Server | undefined;
    if (flags.metricsPort !== undefined) {
      try {
        metricsServer = await serveMetrics(workerRegistry(core), flags.metricsPort, flags.metricsHost);
        say(`metrics: http://${flags.metricsHost}:${portOf(metricsServer)}/metrics`);
      } catch (err) {
        say(
          `warning: /metrics could not listen on ${flags.metricsHost}:${flags.metricsPort}: ${(err as Error).message}`,
        );
      }
    }

    const progress = async () => {
      try {
        core.tally.backlog = await transport.backlog();
      } catch {
        // The backlog is left as last read.
      }
      if (!flags.quiet) {
        say(core.tally.line(flags.queue!, core.holding, core.limitPerSecond(), core.state.kind));
      }
    };
    const timer = setInterval(() => void progress(), WORKER_DEFAULTS.progressEveryMs);

    let stops = 0;
    const shutdown = async (code: number) => {
      clearInterval(timer);
      await core.drain();
      await transport.close();
      await core.close();
      metricsServer?.close();
      await mock?.close();
      if (!flags.quiet) say(core.tally.line(flags.queue!, 0, core.limitPerSecond(), 'stopped'));
      process.exit(code);
    };
    const onSignal = () => {
      stops++;
      if (stops === 1) {
        say(
          `Stopping: no new messages; requests on the wire get up to ${flags.graceMs / 1000} s, the rest go back to the queue. Again to stop at once.`,
        );
        void shutdown(0);
      } else {
        // Unacknowledged messages go back to the queue when the connection closes.
        process.exit(0);
      }
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    void transport.lost().then((err) => {
      say(
        `error: ${err.message}; messages held go back to the queue. Restart the worker when the broker is back.`,
      );
      void shutdown(1);
    });
  });
}
