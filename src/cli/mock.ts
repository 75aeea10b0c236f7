import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  MOCK_DEFAULTS,
  MockOptionError,
  startMock,
  type MockFlavor,
  type MockOptions,
  type MockSettle,
} from '../mock/index.js';
import { resolveMockOptions } from '../mock/options.js';

/** Flags as `sluice mock` spells them, for messages about option fields. */
function flagName(option: keyof MockOptions): string {
  return `--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

function wholeNumber(text: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError('Expected a whole number from 0 up.');
  }
  return Number(text);
}

function nonNegative(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError('Expected a number from 0 up.');
  }
  return value;
}

function probability(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !(value >= 0 && value <= 1)) {
    throw new InvalidArgumentError('Expected a probability from 0 to 1, like 0.05.');
  }
  return value;
}

function keyList(text: string): string[] {
  const keys = text
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (keys.length === 0) throw new InvalidArgumentError('Expected a comma-separated list of API keys.');
  return keys;
}

interface Flags {
  port: number;
  host: string;
  flavor: MockFlavor;
  rpm: number;
  tpm: number;
  rpd: number;
  tpd: number;
  itpm: number;
  otpm: number;
  burstSeconds: number;
  defaultMaxTokens: number;
  settle: MockSettle;
  countRejected?: true;
  quotaTokens?: number;
  quotaRequests?: number;
  slowDownFactor?: number;
  slowDownMin: number;
  retryAfter: boolean;
  retryAfterMs: boolean;
  latencyMs: number;
  msPerToken: number;
  errorRate: number;
  resetRate: number;
  streamCutRate: number;
  keys?: string[];
  seed?: number;
  organization: string;
}

/** Registers `sluice mock` (the emulator). */
export function registerMock(program: Command): void {
  const d = MOCK_DEFAULTS;
  const cmd = program
    .command('mock')
    .description(
      'Run an OpenAI-compatible server that rate-limits exactly like OpenAI (429s, headers, waits), for tests.',
    )
    .option('--port <n>', 'TCP port (0 picks a free one)', wholeNumber, d.port)
    .option('--host <host>', 'interface to bind', d.host)
    .addOption(
      new Option('--flavor <name>', "dialect of headers and error bodies ('anthropic' adds /v1/messages)")
        .choices(['openai', 'azure', 'anthropic'])
        .default(d.flavor),
    )
    .option('--rpm <n>', 'requests per minute per (API key, model); 0 = unlimited', wholeNumber, d.rpm)
    .option('--tpm <n>', 'tokens per minute per (API key, model); 0 = unlimited', wholeNumber, d.tpm)
    .option('--rpd <n>', 'requests per day per (API key, model); 0 = unlimited', wholeNumber, d.rpd)
    .option('--tpd <n>', 'tokens per day per (API key, model); 0 = unlimited', wholeNumber, d.tpd)
    .option('--itpm <n>', 'input tokens per minute (anthropic flavor); 0 = unlimited', wholeNumber, d.itpm)
    .option(
      '--otpm <n>',
      'output tokens per minute, charged max_tokens (anthropic flavor); 0 = unlimited',
      wholeNumber,
      d.otpm,
    )
    .option(
      '--burst-seconds <s>',
      'per-minute bucket capacity = limit x s / 60 (60: a whole minute at once; 1: one second)',
      nonNegative,
      d.burstSeconds,
    )
    .option(
      '--default-max-tokens <n>',
      'completion tokens charged (and most generated) when a request names no max',
      wholeNumber,
      d.defaultMaxTokens,
    )
    .addOption(
      new Option(
        '--settle <when>',
        "token charge is final at 'admission', or corrected to actual 'usage' after the answer",
      )
        .choices(['admission', 'usage'])
        .default(d.settle),
    )
    .option(
      '--count-rejected',
      'charge a refused request 1 in the request buckets, as OpenAI counts failed requests',
    )
    .option(
      '--quota-tokens <n>',
      'tokens (prompt + completion) per API key, then insufficient_quota',
      wholeNumber,
    )
    .option('--quota-requests <n>', 'admitted requests per API key, then insufficient_quota', wholeNumber)
    .option(
      '--slow-down-factor <f>',
      'answer slow_down when a second admits more than f x the previous second (and more than --slow-down-min)',
      nonNegative,
    )
    .option(
      '--slow-down-min <n>',
      'requests per second always allowed by --slow-down-factor',
      nonNegative,
      d.slowDownMin,
    )
    .option('--no-retry-after', 'omit the retry-after header (integer seconds) on rate-limit 429s')
    .option('--no-retry-after-ms', 'omit the retry-after-ms header on rate-limit 429s')
    .option('--latency-ms <ms>', 'delay before each admitted answer', nonNegative, d.latencyMs)
    .option(
      '--ms-per-token <ms>',
      'generation time per completion token (paces stream deltas)',
      nonNegative,
      d.msPerToken,
    )
    .option(
      '--error-rate <p>',
      'probability of answering 500, 502 or 503 instead (charged nothing)',
      probability,
      d.errorRate,
    )
    .option(
      '--reset-rate <p>',
      'probability of cutting an admitted answer connection mid-body',
      probability,
      d.resetRate,
    )
    .option(
      '--stream-cut-rate <p>',
      'probability of ending an admitted stream early, without its last events or [DONE]',
      probability,
      d.streamCutRate,
    )
    .option('--keys <list>', 'comma-separated accepted API keys; any other key (or none) gets 401', keyList)
    .option('--seed <n>', 'seed of the fault dice and generated text (same seed, same run)', wholeNumber)
    .option('--organization <id>', 'organization named in rate-limit messages', d.organization)
    .addHelpText(
      'after',
      `
Limits apply per (API key, model). Buckets refill continuously; a request is charged
ceil(prompt characters / 4) + n x (max_completion_tokens ?? max_tokens ?? max_output_tokens ?? --default-max-tokens)
tokens and 1 request at admission, in every bucket or none.

Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses
(/v1/messages with --flavor anthropic; /openai/deployments/<name>/... with --flavor azure),
GET /v1/models, GET /__mock/stats, POST /__mock/reset.

Examples:
  $ sluice mock --rpm 60 --tpm 10000
  $ OPENAI_BASE_URL=http://127.0.0.1:8080/v1 my-app   # with: sluice mock --port 8080
  $ sluice mock --port 0 --burst-seconds 1 --error-rate 0.02 --seed 7`,
    );

  // Bad flags exit 2 with commander's message (which names the flag), never a stack trace.
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  cmd.action(async (flags: Flags) => {
    const options: MockOptions = {
      port: flags.port,
      host: flags.host,
      flavor: flags.flavor,
      rpm: flags.rpm,
      tpm: flags.tpm,
      rpd: flags.rpd,
      tpd: flags.tpd,
      itpm: flags.itpm,
      otpm: flags.otpm,
      burstSeconds: flags.burstSeconds,
      defaultMaxTokens: flags.defaultMaxTokens,
      settle: flags.settle,
      countRejected: flags.countRejected === true,
      quotaTokens: flags.quotaTokens,
      quotaRequests: flags.quotaRequests,
      slowDownFactor: flags.slowDownFactor,
      slowDownMin: flags.slowDownMin,
      retryAfter: flags.retryAfter,
      retryAfterMs: flags.retryAfterMs,
      latencyMs: flags.latencyMs,
      msPerToken: flags.msPerToken,
      errorRate: flags.errorRate,
      resetRate: flags.resetRate,
      streamCutRate: flags.streamCutRate,
      keys: flags.keys,
      seed: flags.seed,
      organization: flags.organization,
    };
    try {
      resolveMockOptions(options, flagName);
    } catch (err) {
      if (err instanceof MockOptionError) cmd.error(`error: ${err.message}`, { exitCode: 2 });
      throw err;
    }

    let mock;
    try {
      mock = await startMock(options);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === 'EADDRINUSE'
          ? `port ${flags.port} is already in use on ${flags.host}; pick another with --port, or --port 0 for any free one`
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? `cannot bind --host ${flags.host} (${code})`
            : (err as Error).message;
      process.stderr.write(`error: ${reason}\n`);
      process.exit(1);
    }

    // Handlers go in before the first line is printed: a parent may signal as soon as it reads it.
    let closing = false;
    const server = mock;
    const shutdown = (): void => {
      if (closing) process.exit(130);
      closing = true;
      void server.close().then(() => process.exit(0));
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);

    const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
    const limits = [
      ['RPM', flags.rpm],
      ['TPM', flags.tpm],
      ['RPD', flags.rpd],
      ['TPD', flags.tpd],
      ['ITPM', flags.itpm],
      ['OTPM', flags.otpm],
    ]
      .filter(([, v]) => v !== 0)
      .map(([name, v]) => `${v} ${name}`);
    process.stdout.write(
      `listening on http://${host}:${mock.port}\n` +
        `${flags.flavor} flavor, base URL ${mock.url}; per (API key, model): ` +
        `${limits.length > 0 ? limits.join(', ') : 'unlimited'}, burst ${flags.burstSeconds}s\n`,
    );
  });
}
