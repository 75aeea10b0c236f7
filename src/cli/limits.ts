/**
 * `sluice limits`: what the key allows right now, per model, from one cheapest request each
 * (`src/protocol/limits.ts`). Human text on stdout, or `--json`; problems with the key or the quota
 * told plainly with what to do, exit 1.
 */
import type { Command } from 'commander';
import { baseUrlProblem, isEnvName, keyProblem, looksLikeKey } from '../batch/checks.js';
import { formatCount } from '../batch/display.js';
import { keyRedactor, type Redactor } from '../batch/redact.js';
import { boolean, list, oneOf, text } from '../formats/option-kinds.js';
import { type OptionTable } from '../formats/options.js';
import { MOCK_DEFAULTS, startMock, type MockOptions, type MockServer } from '../mock/index.js';
import {
  flavorOf,
  PROBE_DEFAULTS,
  PROBE_FLAVORS,
  probeLimits,
  type ModelLimits,
  type ProbeFlavor,
} from '../protocol/limits.js';
import { addOptions, resolveFlags } from './options.js';

/** Where each flavor is reached, and where its key lives, when the flags do not say. */
export const FLAVOR_DEFAULTS: Readonly<
  Record<ProbeFlavor, { baseEnv: string; base?: string; keyEnv: string }>
> = Object.freeze({
  openai: { baseEnv: 'OPENAI_BASE_URL', base: 'https://api.openai.com/v1', keyEnv: 'OPENAI_API_KEY' },
  azure: { baseEnv: 'AZURE_OPENAI_ENDPOINT', keyEnv: 'AZURE_OPENAI_API_KEY' },
  anthropic: {
    baseEnv: 'ANTHROPIC_BASE_URL',
    base: 'https://api.anthropic.com',
    keyEnv: 'ANTHROPIC_API_KEY',
  },
});

/** The emulator behind `--base-url mock`, per flavor: its default limits, Anthropic's split in input and output. */
const EMBEDDED_MOCK: Readonly<Record<ProbeFlavor, MockOptions>> = {
  openai: { rpm: MOCK_DEFAULTS.rpm, tpm: MOCK_DEFAULTS.tpm },
  azure: { flavor: 'azure', rpm: MOCK_DEFAULTS.rpm, tpm: MOCK_DEFAULTS.tpm },
  anthropic: { flavor: 'anthropic', rpm: 50, tpm: 0, itpm: 30_000, otpm: 8000 },
};

/** `sluice limits`'s flags, declared once: the command, its help and docs/limits.md read this table. */
export const LIMITS_FLAGS = {
  /** The API's base URL, or `mock` for the built-in emulator. */
  baseUrl: text({
    placeholder: 'url',
    defaultText: '$OPENAI_BASE_URL, else https://api.openai.com/v1',
    help: 'the API base URL as the SDKs take it; "mock" runs the built-in emulator',
  }),
  /** Models (Azure: deployments) to probe, one request each. */
  model: list({
    items: 'model names',
    placeholder: 'model',
    defaultText: 'gpt-4o-mini (anthropic: claude-haiku-4-5)',
    help: 'a model to probe (Azure: a deployment); repeat it or separate with commas',
  }),
  /** Which API the base URL speaks. */
  flavor: oneOf(PROBE_FLAVORS, {
    placeholder: 'name',
    defaultText: 'from the base URL',
    help: 'which API the base URL speaks',
  }),
  /** The environment variable that holds the key (never the key itself). */
  apiKeyEnv: text({
    placeholder: 'name',
    defaultText: 'OPENAI_API_KEY (ANTHROPIC_API_KEY, AZURE_OPENAI_API_KEY)',
    help: 'environment variable holding the API key',
  }),
  /** Azure's `api-version`. */
  apiVersion: text({
    placeholder: 'version',
    default: PROBE_DEFAULTS.apiVersion,
    help: "Azure's api-version",
  }),
  /** Print one JSON object instead of text. */
  json: boolean({ default: false, help: 'print one JSON object (for scripts) instead of text' }),
} satisfies OptionTable;

let redact: Redactor = keyRedactor(undefined);

function fail(message: string): never {
  process.stderr.write(redact.text(`error: ${message}\n`));
  process.exit(2);
}

/** A wait as people read it: `12ms`, `1.5s`, `6m0s`, `2h5m`. */
export function formatWait(ms: number): string {
  if (ms <= 0) return 'now';
  if (ms < 1000) return `${Math.ceil(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** What to do about a model's problem, with the variable that holds the key named. */
export function problemText(r: ModelLimits, keyVar: string): string | undefined {
  const p = r.problem;
  if (!p) return undefined;
  const said = p.message === undefined ? '' : `: ${p.message}`;
  switch (p.kind) {
    case 'quota_exhausted':
      return `the quota is exhausted (${r.status}${said}). Nothing can be sent with this key until it is back: add credit or raise the spending limit in the provider's billing settings, then run sluice limits again.`;
    case 'invalid_key':
      return `the key in ${keyVar} was refused (${r.status}${said}). Check that ${keyVar} holds a current key for this base URL: a key of another provider or project, a revoked key, or a stray character are the usual causes.`;
    case 'model_not_found':
      return `no model ${JSON.stringify(r.model)} here (${r.status}${said}). Check the name given with --model (for Azure, the deployment's name) and the base URL.`;
    case 'rate_limited':
      return `a limit is full right now (${r.status})${r.retryAfterMs === undefined ? '' : `; the server asks to wait ${formatWait(r.retryAfterMs)}`}. Not retried: sluice limits sends one request per model, never more.`;
    case 'failed':
      return `the request failed (${r.status}${said}); not retried, so the limits stay unknown. Run again later.`;
    case 'unreachable':
      return `nothing answered at ${r.url} (${p.message ?? 'no answer'}). Check --base-url and the network.`;
  }
}

/** The text report of one model. */
export function formatModel(r: ModelLimits, keyVar: string): string {
  const lines: string[] = [];
  const answered =
    r.status === undefined ? 'no answer' : `answered ${r.status} in ${Math.round(r.elapsedMs)} ms`;
  lines.push(`${r.model}  (${answered})`);
  const rows = r.limits.map((l) => [
    l.name,
    l.limit === undefined ? '?' : formatCount(l.limit),
    l.remaining === undefined ? '?' : formatCount(l.remaining),
    l.fullInMs === undefined ? '?' : formatWait(l.fullInMs),
  ]);
  if (rows.length > 0) {
    const table = [['', 'limit', 'remaining', 'full again in'], ...rows];
    const widths = [0, 1, 2, 3].map((c) => Math.max(...table.map((row) => row[c]!.length)));
    for (const row of table) {
      const cells = row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)));
      lines.push(`  ${cells.join('   ')}`.trimEnd());
    }
  }
  for (const n of r.notLearned) lines.push(`  not learned: ${n}`);
  const problem = problemText(r, keyVar);
  if (problem) lines.push(`  ${r.problem!.kind === 'rate_limited' ? 'note' : 'problem'}: ${problem}`);
  return lines.join('\n');
}

/** Registers `sluice limits`. */
export function registerLimits(program: Command): void {
  const cmd = program
    .command('limits')
    .description(
      'Show what the API key allows right now, per model: one cheapest request each, never retried.',
    );
  addOptions(cmd, LIMITS_FLAGS).addHelpText(
    'after',
    `
Per model: requests and tokens per minute (and per day when the server says; input and output
tokens for Anthropic), what remains and when each is full again, and what the answer did not tell.
A chat model gets a chat completion with a max of one token, an embedding model one input string,
Anthropic a one-token messages call. Exit status: 0 when every model answered (a 429 included),
1 when a key, quota, model or network problem kept one from answering, 2 for bad flags.

Examples:
  $ sluice limits --model gpt-4o-mini --model text-embedding-3-small
  $ sluice limits --base-url https://api.anthropic.com --model claude-sonnet-4-5 --json
  $ sluice limits --base-url mock --flavor anthropic

Reference: docs/limits.md`,
  );
  // `--model a --model b` gathers both (the list kind reads the comma-joined text).
  const modelOption = cmd.options.find((o) => o.long === '--model');
  modelOption?.argParser((value: string, previous: unknown) =>
    typeof previous === 'string' ? `${previous},${value}` : value,
  );
  cmd.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  cmd.action(async () => {
    const { options: flags } = resolveFlags(cmd, LIMITS_FLAGS);
    const useMock = flags.baseUrl === 'mock';
    const flavor: ProbeFlavor =
      flags.flavor ?? (flags.baseUrl !== undefined && !useMock ? flavorOf(flags.baseUrl) : 'openai');
    const defaults = FLAVOR_DEFAULTS[flavor];

    if (flags.apiKeyEnv !== undefined && !isEnvName(flags.apiKeyEnv)) {
      fail(
        looksLikeKey(flags.apiKeyEnv)
          ? `--api-key-env takes the NAME of the environment variable that holds the key (like ${defaults.keyEnv}), but it was given what looks like a key itself (not shown). A key on the command line stays in the shell history: consider rotating it, and export it instead.`
          : `--api-key-env takes the name of an environment variable (letters, digits and _, like ${defaults.keyEnv}); the value given is not one (not shown, in case it is a secret).`,
      );
    }
    const keyVar = flags.apiKeyEnv ?? defaults.keyEnv;
    let apiKey = process.env[keyVar] || undefined;
    if (apiKey !== undefined) {
      redact = keyRedactor(apiKey);
      const problem = keyProblem(apiKey);
      if (problem) fail(`the API key in ${keyVar} ${problem}. The key itself is not shown.`);
    }

    const baseSource = flags.baseUrl !== undefined ? '--base-url' : defaults.baseEnv;
    let baseUrl = flags.baseUrl ?? (process.env[defaults.baseEnv] || defaults.base);
    if (baseUrl === undefined) {
      fail(
        `no base URL: an Azure resource needs one, e.g. --base-url https://my-resource.openai.azure.com (or set ${defaults.baseEnv}).`,
      );
    }
    if (!useMock) {
      const problem = baseUrlProblem(baseUrl);
      if (problem) fail(`${baseSource} ${JSON.stringify(baseUrl)} ${problem}.`);
    }
    const models = flags.model ?? (flavor === 'azure' ? undefined : [PROBE_DEFAULTS.models[flavor]!]);
    if (models === undefined) {
      fail('name the deployment to probe: --model <deployment> (Azure limits are per deployment).');
    }
    if (apiKey === undefined && !useMock) {
      fail(
        `no API key: set ${keyVar} (the key is read from the environment, never from the command line), or name another variable with --api-key-env. To try it without an account, use --base-url mock.`,
      );
    }

    let mock: MockServer | undefined;
    if (useMock) {
      mock = await startMock(EMBEDDED_MOCK[flavor]);
      baseUrl = flavor === 'openai' ? mock.url : mock.url.replace(/\/v1$/, '');
      apiKey ??= 'sk-mock';
      if (!flags.json) {
        process.stderr.write(
          `--base-url mock: asking the built-in emulator (${flavor} flavor) at ${baseUrl}; nothing leaves this machine.\n`,
        );
      }
    }

    // One request per model, all at once: none waits for another, none is retried.
    const results = await Promise.all(
      [...new Set(models)].map((model) =>
        probeLimits({ baseUrl: baseUrl!, apiKey: apiKey!, flavor, apiVersion: flags.apiVersion }, model),
      ),
    );
    await mock?.close();

    if (flags.json) {
      const report = {
        baseUrl,
        flavor,
        models: results.map((r) => {
          const advice = problemText(r, keyVar);
          return advice === undefined ? r : { ...r, advice };
        }),
      };
      process.stdout.write(redact.text(`${JSON.stringify(report, null, 2)}\n`));
    } else {
      const head = `Limits at ${baseUrl} (${flavor}), one request per model:\n\n`;
      process.stdout.write(
        redact.text(`${head}${results.map((r) => formatModel(r, keyVar)).join('\n\n')}\n`),
      );
    }
    const failed = results.some((r) => r.problem !== undefined && r.problem.kind !== 'rate_limited');
    process.exit(failed ? 1 : 0);
  });
}
