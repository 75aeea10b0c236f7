/**
 * `--dry-run`: what a run would do, sending nothing and writing nothing. Counts the lines, checks them,
 * estimates the tokens they reserve at admission, and works out the least time the given limits allow.
 */
import { admittedTokens } from '../engine/request.js';
import { adaptRequest } from '../protocol/adapt.js';
import { joinUrl, LineChecker, readLines, type BadLine } from './input.js';
import { formatCount, formatDuration } from './display.js';
import { loadResumeState } from './resume.js';
import { BATCH_DEFAULTS } from './options.js';

export interface PlanOptions {
  input: string;
  /** With `resume`: the files whose finished lines are not counted as to send. */
  output?: string;
  errors?: string;
  resume?: boolean;
  retryFailed?: boolean;
  rpm?: number;
  tpm?: number;
}

/** Limits of one model, per minute and per day; absent ones do not bound the time. */
export interface ModelRates {
  rpm?: number;
  tpm?: number;
  rpd?: number;
  tpd?: number;
}

export interface ModelPlan {
  model: string;
  requests: number;
  /** Prompt + completion tokens reserved at admission. */
  tokens: number;
  /** Least time for this model's lines at the given limits (limits are per model). */
  minMs: number | undefined;
  /** The limits `minMs` was computed at, when they are the model's own (probed) rather than --rpm/--tpm. */
  rates?: ModelRates;
}

export interface BatchPlan {
  input: string;
  /** Non-blank lines. */
  lines: number;
  valid: number;
  bad: number;
  /** The first bad lines (all are counted in `bad`). */
  badLines: BadLine[];
  /** Valid lines already finished by an earlier run (`resume`). */
  alreadyDone: number;
  toSend: number;
  promptTokens: number;
  completionTokens: number;
  /** Lines to send without a max-tokens field (counted at the engine's typical completion). */
  withoutMax: number;
  models: ModelPlan[];
  /** Least time for the whole file: the slowest model. `undefined` without `rpm`/`tpm`. */
  minMs: number | undefined;
  rpm: number | undefined;
  tpm: number | undefined;
  /** Where per-model limits came from, when they were probed (`sluice limits`' request), and what went wrong. */
  probe?: { baseUrl: string; problems: string[] };
}

/** Reads the whole input (and, with `resume`, the earlier run's files; a file that is not one is refused with a `BatchSetupError`). */
/** A dry run sends nothing and reports per model: any base URL names the same models. */
const PLAN_BASE_URL = 'https://api.openai.com/v1';
const NO_HEADERS = { get: () => null };

export async function planBatch(options: PlanOptions): Promise<BatchPlan> {
  let checker = new LineChecker();
  if ((options.resume || options.retryFailed) && options.output !== undefined) {
    const state = await loadResumeState(options.output, options.errors ?? `${options.output}.errors.jsonl`, {
      retryFailed: options.retryFailed === true,
      readOnly: true,
    });
    checker = new LineChecker(state.finished);
  }
  const plan: BatchPlan = {
    input: options.input,
    lines: 0,
    valid: 0,
    bad: 0,
    badLines: [],
    alreadyDone: 0,
    toSend: 0,
    promptTokens: 0,
    completionTokens: 0,
    withoutMax: 0,
    models: [],
    minMs: undefined,
    rpm: options.rpm,
    tpm: options.tpm,
  };
  const models = new Map<string, ModelPlan>();
  for await (const raw of readLines(options.input)) {
    plan.lines++;
    const checked = checker.check(raw);
    if (!checked.ok) {
      plan.bad++;
      if (plan.badLines.length < BATCH_DEFAULTS.badLinesShown) plan.badLines.push(checked.bad);
      continue;
    }
    plan.valid++;
    const { request } = checked;
    if (checked.finished) {
      plan.alreadyDone++;
      continue;
    }
    plan.toSend++;
    const { lane, cost } = adaptRequest({
      method: 'POST',
      url: joinUrl(PLAN_BASE_URL, request.url),
      headers: NO_HEADERS,
      body: request.body,
    }).request;
    if (!cost.maxGiven) plan.withoutMax++;
    const tokens = admittedTokens(cost, BATCH_DEFAULTS.typicalCompletion);
    plan.promptTokens += cost.promptTokens;
    plan.completionTokens += tokens - cost.promptTokens;
    const model = lane.model;
    let m = models.get(model);
    if (!m) {
      m = { model, requests: 0, tokens: 0, minMs: undefined };
      models.set(model, m);
    }
    m.requests++;
    m.tokens += tokens;
  }
  plan.models = [...models.values()].sort((a, b) => b.tokens - a.tokens);
  const given: ModelRates = {};
  if (options.rpm) given.rpm = options.rpm;
  if (options.tpm) given.tpm = options.tpm;
  applyRates(plan, () => given);
  return plan;
}

/** The least time `requests` and `tokens` need at `rates`: the slowest of its limits. */
export function leastTime(m: { requests: number; tokens: number }, rates: ModelRates): number | undefined {
  const times = [
    rates.rpm ? (m.requests / rates.rpm) * 60_000 : undefined,
    rates.tpm ? (m.tokens / rates.tpm) * 60_000 : undefined,
    rates.rpd ? (m.requests / rates.rpd) * 86_400_000 : undefined,
    rates.tpd ? (m.tokens / rates.tpd) * 86_400_000 : undefined,
  ].filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.max(...times) : undefined;
}

/**
 * Computes every model's least time at its rates (`ratesOf(model)`), and the file's (the slowest
 * model). With `own`, the rates are recorded per model as its own (probed) limits.
 */
export function applyRates(plan: BatchPlan, ratesOf: (model: string) => ModelRates, own = false): void {
  plan.minMs = undefined;
  for (const m of plan.models) {
    const rates = ratesOf(m.model);
    m.minMs = leastTime(m, rates);
    if (own) m.rates = rates;
    if (m.minMs !== undefined) plan.minMs = Math.max(plan.minMs ?? 0, m.minMs);
  }
}

function describeRates(r: ModelRates): string {
  return [
    r.rpm ? `${formatCount(r.rpm)} RPM` : undefined,
    r.tpm ? `${formatCount(r.tpm)} TPM` : undefined,
    r.rpd ? `${formatCount(r.rpd)} RPD` : undefined,
    r.tpd ? `${formatCount(r.tpd)} TPD` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
}

/** The dry-run report (stdout). */
export function formatPlan(plan: BatchPlan): string {
  const out: string[] = [];
  const row = (label: string, text: string) => out.push(`${label.padEnd(14)}${text}`);
  row('input', plan.input);
  row('lines', `${formatCount(plan.lines)} (${formatCount(plan.valid)} valid, ${formatCount(plan.bad)} bad)`);
  if (plan.alreadyDone > 0) row('already done', `${formatCount(plan.alreadyDone)} (skipped by --resume)`);
  row('to send', `${formatCount(plan.toSend)} requests`);
  const tokens = plan.promptTokens + plan.completionTokens;
  row(
    'tokens',
    `~${formatCount(tokens)} reserved at admission (prompt ~${formatCount(plan.promptTokens)} + completion up to ${formatCount(plan.completionTokens)})`,
  );
  if (plan.withoutMax > 0) {
    row(
      '',
      `${formatCount(plan.withoutMax)} requests name no max_tokens; counted at ${BATCH_DEFAULTS.typicalCompletion} completion tokens each`,
    );
  }
  for (const m of plan.models) {
    const at = m.rates && describeRates(m.rates) ? ` at ${describeRates(m.rates)}` : '';
    row(
      out.some((l) => l.startsWith('by model')) ? '' : 'by model',
      `${m.model}: ${formatCount(m.requests)} requests, ~${formatCount(m.tokens)} tokens${m.minMs === undefined ? '' : `, at least ${formatDuration(m.minMs)}${at}`}`,
    );
  }
  if (plan.probe) {
    row(
      'limits',
      `asked ${plan.probe.baseUrl} with one request per model (as sluice limits does; --offline sends nothing)`,
    );
    for (const problem of plan.probe.problems) row('', problem);
  }
  if (plan.probe && plan.minMs !== undefined) {
    row(
      'minimum time',
      `${formatDuration(plan.minMs)} at each model's limits as the server stated them (less the account's initial burst, up to one minute's worth)`,
    );
  } else if (plan.minMs !== undefined) {
    const limits = [
      plan.rpm ? `${formatCount(plan.rpm)} RPM` : undefined,
      plan.tpm ? `${formatCount(plan.tpm)} TPM` : undefined,
    ]
      .filter(Boolean)
      .join(' and ');
    row(
      'minimum time',
      `${formatDuration(plan.minMs)} at ${limits} per model (less the account's initial burst, up to one minute's worth)`,
    );
  } else {
    row('minimum time', 'give --rpm and/or --tpm (your account limits per model) to compute it');
  }
  return out.join('\n');
}
