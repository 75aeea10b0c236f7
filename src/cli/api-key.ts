/**
 * The API key and base URL of the commands that call the API on their own (`sluice batch`, `sluice
 * worker`): their `--base-url` and `--api-key-env` flags, the key from the environment only (the
 * variable `--api-key-env` names), checked, never printed; the base URL checked, or `mock` for the
 * built-in emulator.
 */
import { baseUrlProblem, isEnvName, keyProblem, looksLikeKey } from '../batch/checks.js';
import { text } from '../formats/option-kinds.js';

export const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/** The flags that say where the API is and which variable holds its key. */
export const ACCESS_FLAGS = {
  /** The API's base URL, or `mock` for the built-in emulator. */
  baseUrl: text({
    placeholder: 'url',
    defaultText: `$OPENAI_BASE_URL, else ${DEFAULT_BASE_URL}`,
    help: 'the API base URL, /v1 included; "mock" runs the built-in emulator',
  }),
  /** The environment variable that holds the key (never the key itself). */
  apiKeyEnv: text({
    placeholder: 'name',
    defaultText: 'OPENAI_API_KEY',
    help: 'environment variable holding the API key',
  }),
} as const;

export type Access =
  { ok: true; baseUrl: string; mock: boolean; apiKey: string | undefined } | { ok: false; message: string };

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '127.0.0.1' || host === '[::1]' || host === '::1';
  } catch {
    return false;
  }
}

/** Reads `--base-url`/`$OPENAI_BASE_URL` and the key; a problem comes back as a message that says what to do. */
export function readAccess(flags: { baseUrl?: string | undefined; apiKeyEnv?: string | undefined }): Access {
  if (flags.apiKeyEnv !== undefined && !isEnvName(flags.apiKeyEnv)) {
    return {
      ok: false,
      message: looksLikeKey(flags.apiKeyEnv)
        ? "--api-key-env takes the NAME of the environment variable that holds the key (like OPENAI_API_KEY), but it was given what looks like an API key itself (not shown). A key on the command line stays in the shell history and the process list: consider rotating it. Export it instead — export OPENAI_API_KEY=... — and drop --api-key-env, or give the variable's name."
        : '--api-key-env takes the name of an environment variable (letters, digits and _, not starting with a digit, like OPENAI_API_KEY); the value given is not one (not shown, in case it is a secret).',
    };
  }
  const keyVar = flags.apiKeyEnv ?? 'OPENAI_API_KEY';
  let apiKey = process.env[keyVar] || undefined;
  if (flags.apiKeyEnv !== undefined && apiKey === undefined) {
    return {
      ok: false,
      message: `--api-key-env ${keyVar}: the variable ${keyVar} is not set (or empty). Export it with the API key.`,
    };
  }
  if (apiKey !== undefined) {
    const problem = keyProblem(apiKey);
    if (problem)
      return {
        ok: false,
        message: `the API key in ${keyVar} ${problem}. The key itself is not shown. Remove the character, e.g. export ${keyVar}="$(printf %s "$${keyVar}" | tr -d '\\r\\n ')".`,
      };
  }
  const source = flags.baseUrl !== undefined ? '--base-url' : 'OPENAI_BASE_URL';
  const baseUrl = flags.baseUrl ?? (process.env['OPENAI_BASE_URL'] || DEFAULT_BASE_URL);
  const mock = baseUrl === 'mock';
  const urlProblem = mock ? undefined : baseUrlProblem(baseUrl);
  if (urlProblem) {
    return {
      ok: false,
      message: `${source} ${JSON.stringify(baseUrl)} ${urlProblem}. Expected the API's base URL, /v1 included, e.g. ${DEFAULT_BASE_URL}, or "mock".`,
    };
  }
  if (apiKey === undefined && mock) apiKey = 'sk-mock';
  if (apiKey === undefined && !isLoopback(baseUrl)) {
    return {
      ok: false,
      message: `no API key: set OPENAI_API_KEY (the key is read from the environment, never from the command line), or name another variable with --api-key-env. To try it without an account, use --base-url mock.`,
    };
  }
  return { ok: true, baseUrl, mock, apiKey };
}

/** A broker URL without its password, for messages. */
export function showUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}
