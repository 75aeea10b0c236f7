/**
 * `--dry-run` at the real limits: when no `--rpm`/`--tpm` is given and a key is at hand, each model of
 * the file is asked once, as `sluice limits` asks (`src/protocol/limits.ts`), and the least time is
 * worked out at the limits the server stated for it.
 */
import { flavorOf, probeLimits, type ModelLimits, type ProbeOptions } from '../protocol/limits.js';
import { applyRates, type BatchPlan, type ModelRates } from './plan.js';

/** The rates a probe's answer states (a limit the server did not give is absent). */
export function ratesOf(result: ModelLimits): ModelRates {
  const rates: ModelRates = {};
  for (const l of result.limits) {
    if (l.limit === undefined) continue;
    if (l.name === 'RPM') rates.rpm = l.limit;
    else if (l.name === 'TPM') rates.tpm = l.limit;
    else if (l.name === 'RPD') rates.rpd = l.limit;
    else if (l.name === 'TPD') rates.tpd = l.limit;
  }
  return rates;
}

/** One line per model whose limits stayed unknown, saying why. */
function problemOf(r: ModelLimits): string | undefined {
  const rates = ratesOf(r);
  if (Object.keys(rates).length > 0) return undefined;
  const why = r.problem
    ? `${r.problem.kind.replaceAll('_', ' ')}${r.status === undefined ? '' : ` (${r.status})`}${r.problem.message === undefined ? '' : `: ${r.problem.message}`}`
    : 'the answer stated no limits';
  return `${r.model}: limits unknown — ${why}`;
}

/**
 * Probes every model of `plan` (one request each, at once, never retried) and computes the least times
 * at the stated limits. Returns the probes' results.
 */
export async function probePlan(
  plan: BatchPlan,
  options: Omit<ProbeOptions, 'flavor'>,
): Promise<ModelLimits[]> {
  const flavor = flavorOf(options.baseUrl);
  const results = await Promise.all(plan.models.map((m) => probeLimits({ ...options, flavor }, m.model)));
  const byModel = new Map(results.map((r) => [r.model, ratesOf(r)]));
  applyRates(plan, (model) => byModel.get(model) ?? {}, true);
  const problems = results.map(problemOf).filter((p): p is string => p !== undefined);
  plan.probe = { baseUrl: options.baseUrl, problems };
  return results;
}
