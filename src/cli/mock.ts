import type { Command } from 'commander';
import { startMock } from '../mock/index.js';
import { MOCK_OPTIONS, resolveMockOptions } from '../mock/options.js';
import { addOptions, resolveFlags } from './options.js';

/** Registers `sluice mock` (the emulator); its flags come from {@link MOCK_OPTIONS}. */
export function registerMock(program: Command): void {
  const cmd = program
    .command('mock')
    .description(
      'Run an OpenAI-compatible server that rate-limits exactly like OpenAI (429s, headers, waits), for tests.',
    );
  addOptions(cmd, MOCK_OPTIONS).addHelpText(
    'after',
    `
Limits apply per (API key, model). Buckets refill continuously; a request is charged
ceil(prompt characters / 4) + n x (max_completion_tokens ?? max_tokens ?? max_output_tokens ?? --default-max-tokens)
tokens and 1 request at admission, in every bucket or none. At most --max-generated-tokens
are generated per answer; a larger max is still charged in full.

Endpoints: POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses
(/v1/messages with --flavor anthropic; /openai/deployments/<name>/... with --flavor azure),
GET /v1/models, GET /__mock/stats, POST /__mock/reset.

Examples:
  $ sluice mock --rpm 60 --tpm 10000
  $ OPENAI_BASE_URL=http://127.0.0.1:8080/v1 my-app   # with: sluice mock --port 8080
  $ sluice mock --port 0 --burst-seconds 1 --error-rate 0.02 --seed 7`,
  );

  // Bad flags exit 2 with a message naming the flag, never a stack trace.
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  cmd.action(async () => {
    const { input, options: o } = resolveFlags(cmd, MOCK_OPTIONS, resolveMockOptions);

    let mock;
    try {
      mock = await startMock(input);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === 'EADDRINUSE'
          ? `port ${o.port} is already in use on ${o.host}; pick another with --port, or --port 0 for any free one`
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? `cannot bind --host ${o.host} (${code})`
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

    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    const limits = (
      [
        ['RPM', o.rpm],
        ['TPM', o.tpm],
        ['RPD', o.rpd],
        ['TPD', o.tpd],
        ['ITPM', o.itpm],
        ['OTPM', o.otpm],
      ] as const
    )
      .filter(([, v]) => v !== undefined)
      .map(([name, v]) => `${v} ${name}`);
    process.stdout.write(
      `listening on http://${host}:${mock.port}\n` +
        `${o.flavor} flavor, base URL ${mock.url}; per (API key, model): ` +
        `${limits.length > 0 ? limits.join(', ') : 'unlimited'}, burst ${o.burstSeconds}s\n`,
    );
  });
}
