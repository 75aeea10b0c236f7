import { basename, relative } from 'node:path';
import type { Command } from 'commander';
import { formatPlan, planBatch } from '../batch/plan.js';
import { formatCount, ProgressReporter, type ProgressMode } from '../batch/display.js';
import { keyRedactor, type Redactor } from '../batch/redact.js';
import {
  BATCH_DEFAULTS,
  BATCH_OPTIONS,
  BatchRun,
  BatchSetupError,
  checkFiles,
  type BatchOptions,
} from '../batch/runner.js';
import { type OptionTable } from '../formats/options.js';
import { boolean, text } from '../formats/option-kinds.js';
import { formatSummary } from '../batch/summary.js';
import { MOCK_DEFAULTS, startMock, type MockOptions, type MockServer } from '../mock/index.js';
import { ACCESS_FLAGS, DEFAULT_BASE_URL, readAccess } from './api-key.js';
import { DRY_RUN_FLAGS, dryRunProbe } from './batch-probe.js';
import { addOptions, resolveFlags } from './options.js';
import { openRedisStore, redisUrlProblem } from './redis.js';

/**
 * The emulator behind `--base-url mock`: OpenAI's default-tier-like limits with a one-second burst and a
 * little latency, so pacing and the progress bar are visible on a small file.
 */
export const EMBEDDED_MOCK: MockOptions = {
  rpm: MOCK_DEFAULTS.rpm,
  tpm: MOCK_DEFAULTS.tpm,
  burstSeconds: 1,
  latencyMs: 150,
  msPerToken: 1,
};

/** `sluice batch`'s flags: the run's own options, and what only the command line has. */
export const BATCH_FLAGS = {
  output: BATCH_OPTIONS.output,
  errors: BATCH_OPTIONS.errors,
  ...ACCESS_FLAGS,
  rpm: BATCH_OPTIONS.rpm,
  tpm: BATCH_OPTIONS.tpm,
  maxInFlight: BATCH_OPTIONS.maxInFlight,
  priority: BATCH_OPTIONS.priority,
  resume: BATCH_OPTIONS.resume,
  retryFailed: BATCH_OPTIONS.retryFailed,
  /** Check, count tokens and the minimum time; send and write nothing. */
  dryRun: boolean({
    default: false,
    help: 'check the file, count tokens and the minimum time (at --rpm/--tpm, else at the limits one request per model reveals)',
  }),
  ...DRY_RUN_FLAGS,
  /** Share limits with other processes through Redis. */
  redis: text({
    placeholder: 'url',
    help: 'share limits with other processes (batch runs, gateways, workers) through Redis',
  }),
  /** Namespace of the keys in Redis. */
  redisPrefix: text({
    default: 'sluice:',
    placeholder: 'prefix',
    help: 'namespace of the keys in Redis (processes that share limits use the same one)',
  }),
  graceMs: BATCH_OPTIONS.graceMs,
  /** No progress and no summary. */
  quiet: boolean({ default: false, help: 'no progress and no summary; problems are still printed' }),
} satisfies OptionTable;

/** Single-quotes an argument for a POSIX shell when it needs it. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command that continues this run: the same arguments, with `--resume` and without `--retry-failed`. */
function resumeCommand(): string {
  const script = process.argv[1] ?? 'sluice';
  const program =
    basename(script) === 'sluice' ? 'sluice' : `node ${relative(process.cwd(), script) || script}`;
  const args = process.argv.slice(2).filter((a) => a !== '--retry-failed' && a !== '--dry-run');
  if (!args.includes('--resume')) args.push('--resume');
  return [program, ...args.map(shellQuote)].join(' ');
}

/** What the command prints goes through this: the API key never reaches the terminal. */
let redact: Redactor = keyRedactor(undefined);

function say(text: string): void {
  process.stderr.write(redact.text(text));
}

function fail(message: string): never {
  say(`error: ${message}\n`);
  process.exit(2);
}

/** An unexpected failure: its message (never a stack trace), exit 1. */
function crash(err: unknown): never {
  say(
    `error: unexpected failure: ${(err as Error)?.message ?? String(err)}. Results written so far are whole lines; --resume continues.\n`,
  );
  process.exit(1);
}

/** Registers `sluice batch`. */
export function registerBatch(program: Command): void {
  const cmd = program
    .command('batch')
    .description(
      'Run an OpenAI Batch API file (JSONL) as fast as the rate limits allow: paced, retried, resumable.',
    )
    .argument('<input>', 'input JSONL: one {"custom_id","method":"POST","url","body"} per line');
  addOptions(cmd, BATCH_FLAGS).addHelpText(
    'after',
    `
Every custom_id ends up in exactly one of the two files. Progress goes to stderr: a bar on a
terminal, a line every 10 s otherwise. Exit status: 0 all succeeded, 1 some lines failed or were
not sent, 2 nothing could run (bad flags, unreadable input, output exists without --resume),
130 interrupted.

The input may be a pipe (/dev/stdin, <(...)). A lock beside the output (results.jsonl.lock)
keeps a second run off the same files; the input, output and errors file must be three files.

The API key is read from the environment only (never a flag), and never printed or written. Ctrl-C stops sending, lets requests
in flight finish for ${BATCH_DEFAULTS.graceMs / 1000} s and prints the command that resumes; a second Ctrl-C abandons them.

Examples:
  Try it without an account (the built-in emulator, 500 RPM):
    $ sluice batch examples/requests.jsonl --output results.jsonl --base-url mock

  Check a file and see how long it needs at your limits, sending nothing:
    $ sluice batch prompts.jsonl --dry-run --rpm 5000 --tpm 2000000

  Run it (limits learned from OpenAI's headers), then continue after a crash or Ctrl-C:
    $ export OPENAI_API_KEY=sk-...
    $ sluice batch prompts.jsonl --output results.jsonl
    $ sluice batch prompts.jsonl --output results.jsonl --resume

  Send the lines that failed once more, with a key from another variable:
    $ sluice batch prompts.jsonl --output results.jsonl --resume --retry-failed --api-key-env TEAM_KEY

Reference: docs/batch.md`,
  );

  // Bad flags exit 2 with commander's message (which names the flag), never a stack trace.
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  cmd.action(async (input: string) => {
    const { options: flags } = resolveFlags(cmd, BATCH_FLAGS);
    const redisProblem = flags.redis === undefined ? undefined : redisUrlProblem(flags.redis);
    if (redisProblem) fail(redisProblem);
    const resume = flags.resume || flags.retryFailed;
    if (flags.dryRun) {
      let plan;
      try {
        await checkFiles({ input });
        plan = await planBatch({
          input,
          ...(flags.output === undefined ? {} : { output: flags.output }),
          ...(flags.errors === undefined ? {} : { errors: flags.errors }),
          resume,
          retryFailed: flags.retryFailed,
          ...(flags.rpm === undefined ? {} : { rpm: flags.rpm }),
          ...(flags.tpm === undefined ? {} : { tpm: flags.tpm }),
        });
      } catch (err) {
        if (err instanceof BatchSetupError) fail(err.message);
        crash(err);
      }
      const envKey = process.env[flags.apiKeyEnv ?? 'OPENAI_API_KEY'];
      if (envKey) redact = keyRedactor(envKey);
      let note: string | undefined;
      try {
        note = await dryRunProbe(plan, flags, process.env, EMBEDDED_MOCK, DEFAULT_BASE_URL);
      } catch (err) {
        crash(err);
      }
      if (note !== undefined) say(`${note}\n`);
      for (const bad of plan.badLines) say(`${input}: ${bad.message}\n`);
      if (plan.bad > plan.badLines.length) {
        say(`${input}: ${formatCount(plan.bad - plan.badLines.length)} more bad lines.\n`);
      }
      process.stdout.write(redact.text(`${formatPlan(plan)}\n`));
      process.exit(plan.bad > 0 ? 1 : 0);
    }

    if (flags.output === undefined) {
      fail(
        '--output <file> is required: where the results go, e.g. --output results.jsonl (or use --dry-run).',
      );
    }
    const output = flags.output;

    const access = readAccess(flags);
    if (!access.ok) fail(access.message);
    const { apiKey, mock: useMock, baseUrl: rawBase } = access;
    redact = keyRedactor(apiKey);

    const options: BatchOptions = {
      input,
      output,
      ...(flags.errors === undefined ? {} : { errors: flags.errors }),
      baseUrl: rawBase,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(flags.rpm === undefined ? {} : { rpm: flags.rpm }),
      ...(flags.tpm === undefined ? {} : { tpm: flags.tpm }),
      maxInFlight: flags.maxInFlight,
      priority: flags.priority,
      graceMs: flags.graceMs,
      resume,
      retryFailed: flags.retryFailed,
    };
    try {
      await checkFiles(options);
    } catch (err) {
      if (err instanceof BatchSetupError) fail(err.message);
      crash(err);
    }

    const mode: ProgressMode = flags.quiet ? 'quiet' : process.stderr.isTTY ? 'tty' : 'plain';
    const reporter = new ProgressReporter({ stream: process.stderr, mode });

    let mock: MockServer | undefined;
    if (useMock) {
      mock = await startMock(EMBEDDED_MOCK);
      options.baseUrl = mock.url;
      say(
        `--base-url mock: using the built-in emulator at ${mock.url} — ${formatCount(EMBEDDED_MOCK.rpm!)} RPM and ${formatCount(EMBEDDED_MOCK.tpm!)} TPM per model, ${EMBEDDED_MOCK.burstSeconds} s burst. No account needed; nothing leaves this machine.\n`,
      );
    }

    if (flags.redis !== undefined) {
      options.store = await openRedisStore(flags.redis, (line) => reporter.log(line), flags.redisPrefix);
    }
    let run: BatchRun;
    try {
      run = new BatchRun({ ...options, log: (m) => reporter.log(redact.text(m)) });
    } catch (err) {
      if (err instanceof BatchSetupError) fail(err.message);
      crash(err);
    }

    let interrupts = 0;
    const onSignal = () => {
      interrupts++;
      if (interrupts === 1) {
        reporter.log(
          `Stopping: no new requests; requests in flight get up to ${flags.graceMs / 1000} s to finish. Ctrl-C again abandons them.`,
        );
        run.interrupt();
      } else {
        run.abort();
      }
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    reporter.start(() => run.tracker.snapshot());
    let summary;
    try {
      summary = await run.run();
    } catch (err) {
      reporter.stop();
      await mock?.close();
      if (err instanceof BatchSetupError) fail(err.message);
      crash(err);
    }
    await mock?.close();
    reporter.stop();
    const text = formatSummary(summary, resumeCommand());
    if (!flags.quiet) say(`${text}\n`);
    else if (summary.stopped) say(`${summary.stopped.message}\n  ${resumeCommand()}\n`);
    process.exit(summary.exitCode);
  });
}
