/**
 * `sluice batch --dry-run` asking the server for its limits: the flag that keeps it offline, and the
 * glue that decides whether to ask (no `--rpm`/`--tpm`, a key at hand) and where.
 */
import { baseUrlProblem, isEnvName, keyProblem } from '../batch/checks.js';
import type { BatchPlan } from '../batch/plan.js';
import { probePlan } from '../batch/probe-plan.js';
import { boolean } from '../formats/option-kinds.js';
import { type OptionTable } from '../formats/options.js';
import { startMock, type MockOptions } from '../mock/index.js';

/** The dry run's own flag, beside `--dry-run` in `sluice batch`'s table. */
export const DRY_RUN_FLAGS = {
  /** With `--dry-run`: never ask the server for its limits. */
  offline: boolean({
    default: false,
    help: 'with --dry-run: send nothing at all, not even one request per model to learn the limits',
  }),
} satisfies OptionTable;

export interface DryRunProbeFlags {
  offline: boolean;
  rpm?: number | undefined;
  tpm?: number | undefined;
  baseUrl?: string | undefined;
  apiKeyEnv?: string | undefined;
}

/**
 * Probes the plan's models when that is wanted and possible; returns a sentence for stderr saying what
 * was done or why not (`undefined` when limits were given, so nothing needed saying).
 */
export async function dryRunProbe(
  plan: BatchPlan,
  flags: DryRunProbeFlags,
  env: NodeJS.ProcessEnv,
  embedded: MockOptions,
  defaultBaseUrl: string,
): Promise<string | undefined> {
  if (flags.rpm !== undefined || flags.tpm !== undefined || plan.models.length === 0) return undefined;
  if (flags.offline) return 'limits: --offline, nothing sent; give --rpm/--tpm for a minimum time.';
  const rawBase = flags.baseUrl ?? (env['OPENAI_BASE_URL'] || defaultBaseUrl);
  const keyVar =
    flags.apiKeyEnv !== undefined && isEnvName(flags.apiKeyEnv) ? flags.apiKeyEnv : 'OPENAI_API_KEY';
  let apiKey = env[keyVar] || undefined;
  if (rawBase === 'mock') {
    apiKey ??= 'sk-mock';
    const mock = await startMock(embedded);
    try {
      await probePlan(plan, { baseUrl: mock.url, apiKey });
    } finally {
      await mock.close();
    }
    if (plan.probe) plan.probe.baseUrl = 'the built-in emulator';
    return `limits: asked the built-in emulator, one request per model (--offline sends nothing).`;
  }
  if (apiKey === undefined) {
    return `limits: no API key in ${keyVar}, so none were asked for; give --rpm/--tpm for a minimum time.`;
  }
  if (keyProblem(apiKey) !== undefined || baseUrlProblem(rawBase) !== undefined) {
    return 'limits: not asked (the key or the base URL cannot be used as given; a real run says why).';
  }
  await probePlan(plan, { baseUrl: rawBase, apiKey });
  return `limits: asked ${rawBase} with one request per model (--offline sends nothing).`;
}
