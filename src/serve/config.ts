/**
 * The gateway's configuration file (`sluice serve --config sluice.yaml`): limits per lane, and virtual
 * keys — each app gets its own key (stored here only as a SHA-256 hash), a priority class, a fair-share
 * weight and optional sub-limits, mapped to an upstream key the gateway holds (read from an environment
 * variable named here, never written here).
 *
 * Every problem is reported with the file, line and column, the field, the value and what to write
 * instead. Unknown fields are refused (a typo must not silently disable a limit).
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { PRIORITIES, type Priority } from '../engine/events.js';
import type { LimitsConfig } from '../engine/options.js';
import { parseDuration } from '../formats/option-kinds.js';

export type Flavor = 'openai' | 'azure' | 'anthropic';
export const FLAVORS: readonly Flavor[] = ['openai', 'azure', 'anthropic'];

export interface VirtualKey {
  /** The app's name: its tenant in fair share, in logs, metrics and the dashboard. */
  name: string;
  /** SHA-256 (hex) of the key the app sends. */
  keySha256: string;
  /** The upstream key the gateway sends for this app (read from `upstream_key_env`). Never logged. */
  upstreamKey: string;
  /** The environment variable it came from (for messages). */
  upstreamKeyEnv: string;
  /** The app's class; a request may ask for a lower one (`x-sluice-priority`), never a higher one. */
  priority: Priority;
  /** Fair-share weight among apps of one class. */
  weight: number;
  /** At most this much of each lane's limits for this app. */
  limits?: LimitsConfig;
  /** Whether this app's requests use the response cache (`cache: on|off`). @default the gateway's `--cache` */
  cache?: boolean;
}

export interface GatewayConfig {
  /** The file it was read from, for messages. */
  file: string;
  upstream?: string;
  flavor?: Flavor;
  /** Limits of every lane; `models` overrides per model. */
  limits?: LimitsConfig;
  modelLimits: Record<string, LimitsConfig>;
  /** Default admission deadline. */
  maxWaitMs?: number;
  keys: VirtualKey[];
}

/** A configuration problem: the message names the file, line, field and fix. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export async function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `Cannot read the config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path given to --config.`,
    );
  }
  return parseConfig(text, file, env);
}

const TOP = ['upstream', 'flavor', 'limits', 'max_wait', 'keys'] as const;
const LIMIT_FIELDS = ['rpm', 'tpm', 'rpd', 'tpd', 'max_concurrency', 'burst'] as const;
const KEY_FIELDS = [
  'name',
  'key_sha256',
  'upstream_key_env',
  'priority',
  'weight',
  'limits',
  'cache',
] as const;

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const where = (path: readonly (string | number)[]): string => {
    const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
    const offset = (node as { range?: [number, number] } | undefined)?.range?.[0];
    if (offset === undefined) return file;
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const field = (path: readonly (string | number)[]) =>
    path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
  const fail = (path: readonly (string | number)[], message: string): never => {
    throw new ConfigError(`${where(path)}: ${path.length ? `${field(path)}: ` : ''}${message}`);
  };

  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ConfigError(
      `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: not valid YAML: ${e.message.split('\n')[0]}`,
    );
  }
  const root = doc.toJS() as unknown;
  if (root === null || root === undefined) return { file, modelLimits: {}, keys: [] };
  if (!isPlainObject(root))
    fail([], 'the file must be a mapping of settings (upstream, flavor, limits, max_wait, keys).');
  const top = root as Record<string, unknown>;
  unknownFields(top, TOP, [], fail);

  const config: GatewayConfig = { file, modelLimits: {}, keys: [] };
  if (top['upstream'] !== undefined) {
    const upstream = top['upstream'];
    if (typeof upstream !== 'string' || !/^(https?:\/\/|mock$)/.test(upstream))
      fail(
        ['upstream'],
        `expected an http(s) URL such as https://api.openai.com/v1, or mock; got ${show(upstream)}.`,
      );
    config.upstream = upstream as string;
  }
  if (top['flavor'] !== undefined) {
    if (!(FLAVORS as readonly unknown[]).includes(top['flavor']))
      fail(['flavor'], `expected one of ${FLAVORS.join(', ')}; got ${show(top['flavor'])}.`);
    config.flavor = top['flavor'] as Flavor;
  }
  if (top['max_wait'] !== undefined) config.maxWaitMs = durationAt(top['max_wait'], ['max_wait'], fail);
  if (top['limits'] !== undefined) {
    const limits = top['limits'];
    if (!isPlainObject(limits)) fail(['limits'], 'expected a mapping such as { rpm: 500, tpm: 200000 }.');
    const { models, ...rest } = limits as Record<string, unknown>;
    config.limits = limitsAt(rest, ['limits'], fail);
    if (models !== undefined) {
      if (!isPlainObject(models)) fail(['limits', 'models'], 'expected a mapping of model name → limits.');
      for (const [model, value] of Object.entries(models as Record<string, unknown>)) {
        if (!isPlainObject(value))
          fail(['limits', 'models', model], 'expected a mapping such as { rpm: 100 }.');
        config.modelLimits[model] = limitsAt(
          value as Record<string, unknown>,
          ['limits', 'models', model],
          fail,
        );
      }
    }
  }
  if (top['keys'] !== undefined) {
    if (!Array.isArray(top['keys']))
      fail(['keys'], 'expected a list of virtual keys (each starting with "- name: …").');
    const seenNames = new Set<string>();
    const seenHashes = new Set<string>();
    (top['keys'] as unknown[]).forEach((entry, i) => {
      const path = ['keys', i];
      if (!isPlainObject(entry)) fail(path, 'expected a mapping with name, key_sha256 and upstream_key_env.');
      const k = entry as Record<string, unknown>;
      unknownFields(k, KEY_FIELDS, path, fail);
      const name = k['name'];
      if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name))
        fail(
          [...path, 'name'],
          `expected a name of letters, digits, ".", "_" or "-" (at most 64); got ${show(name)}.`,
        );
      if (seenNames.has(name as string))
        fail([...path, 'name'], `"${name}" is used by an earlier key; names must be unique.`);
      seenNames.add(name as string);
      const hash = k['key_sha256'];
      if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/i.test(hash))
        fail(
          [...path, 'key_sha256'],
          'expected the SHA-256 of the app’s key as 64 hex digits (make one with: printf %s "$KEY" | sluice hash-key). Never write the key itself here.',
        );
      const lower = (hash as string).toLowerCase();
      if (seenHashes.has(lower))
        fail([...path, 'key_sha256'], 'the same key hash is given to an earlier key.');
      seenHashes.add(lower);
      const envName = k['upstream_key_env'];
      if (typeof envName !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName))
        fail(
          [...path, 'upstream_key_env'],
          looksLikeKey(envName)
            ? 'this looks like an API key, not the name of an environment variable. Put the key in a variable (export OPENAI_API_KEY_PROD=…) and write its name here.'
            : `expected the name of an environment variable that holds the upstream key; got ${show(envName)}.`,
        );
      const upstreamKey = env[envName as string];
      if (!upstreamKey)
        fail(
          [...path, 'upstream_key_env'],
          `the variable ${envName} is not set; export it before starting the gateway.`,
        );
      const priority = k['priority'] ?? 'default';
      if (!(PRIORITIES as readonly unknown[]).includes(priority))
        fail([...path, 'priority'], `expected one of ${PRIORITIES.join(', ')}; got ${show(priority)}.`);
      const weight = k['weight'] ?? 1;
      if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight))
        fail([...path, 'weight'], `expected a number above 0; got ${show(weight)}.`);
      const key: VirtualKey = {
        name: name as string,
        keySha256: lower,
        upstreamKey: upstreamKey!,
        upstreamKeyEnv: envName as string,
        priority: priority as Priority,
        weight: weight as number,
      };
      if (k['cache'] !== undefined) {
        const cache = k['cache'];
        if (cache !== true && cache !== false && cache !== 'on' && cache !== 'off')
          fail([...path, 'cache'], `expected on or off; got ${show(cache)}.`);
        key.cache = cache === true || cache === 'on';
      }
      if (k['limits'] !== undefined) {
        if (!isPlainObject(k['limits']))
          fail([...path, 'limits'], 'expected a mapping such as { rpm: 100, tpm: 20000 }.');
        key.limits = limitsAt(k['limits'] as Record<string, unknown>, [...path, 'limits'], fail);
      }
      config.keys.push(key);
    });
  }
  return config;
}

type Fail = (path: readonly (string | number)[], message: string) => never;

function limitsAt(value: Record<string, unknown>, path: (string | number)[], fail: Fail): LimitsConfig {
  unknownFields(value, LIMIT_FIELDS, path, fail);
  const out: LimitsConfig = {};
  for (const name of ['rpm', 'tpm', 'rpd', 'tpd', 'max_concurrency'] as const) {
    const v = value[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      fail([...path, name], `expected a whole number from 1 up; got ${show(v)}.`);
    out[name === 'max_concurrency' ? 'maxConcurrency' : name] = v as number;
  }
  if (value['burst'] !== undefined) out.burstMs = durationAt(value['burst'], [...path, 'burst'], fail);
  return out;
}

function durationAt(value: unknown, path: (string | number)[], fail: Fail): number {
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  if (ms === undefined || ms <= 0)
    fail(path, `expected a duration such as 500ms, 30s or 2m; got ${show(value)}.`);
  return ms!;
}

function unknownFields(
  value: Record<string, unknown>,
  known: readonly string[],
  path: (string | number)[],
  fail: Fail,
): void {
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      fail([...path, name], `unknown field. Expected one of: ${known.join(', ')}.`);
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function looksLikeKey(value: unknown): boolean {
  return (
    typeof value === 'string' && /^(sk-|sk_|key-)|^[A-Za-z0-9_-]{32,}$/.test(value) && /[a-z]/.test(value)
  );
}

/** A value for a message; long strings are cut so that nothing secret-sized is echoed whole. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 12)}…` : value);
  return value === undefined ? 'nothing' : JSON.stringify(value);
}
