/**
 * OpenAI error bodies, as the API sends them.
 *
 * Pure builders shared by both sides of the wire: the emulator answers with them, and client-side tests
 * can build the exact bodies a real server sends; `describeBody` reads one back into a phrase for a
 * message. Every body has the same envelope:
 * `{"error":{"message","type","param","code"}}`. See docs/rate-limits.md for what each one means to a client.
 */
import { formatGoDuration } from './duration.js';

/** The envelope of every OpenAI error response. */
export interface OpenAIErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
  };
}

/** What a rate limit counts. */
export type LimitDimension = 'requests' | 'tokens';

/** Over which window: `minute` (RPM/TPM, 60 s) or `day` (RPD/TPD, 86 400 s). */
export type LimitPeriod = 'minute' | 'day';

/** The organization id the emulator reports. */
export const MOCK_ORGANIZATION = 'org-mock';

const RATE_LIMITS_URL = 'https://platform.openai.com/account/rate-limits';
const ERROR_CODES_URL = 'https://platform.openai.com/docs/guides/error-codes/api-errors';

/** `tokens per min (TPM)`, `requests per day (RPD)`, … as they appear in OpenAI's messages. */
export function limitName(dimension: LimitDimension, period: LimitPeriod): string {
  const per = period === 'minute' ? 'min' : 'day';
  const abbr = `${dimension === 'requests' ? 'R' : 'T'}P${period === 'minute' ? 'M' : 'D'}`;
  return `${dimension} per ${per} (${abbr})`;
}

/** Figures of one refused request, as quoted in a rate-limit message. */
export interface RateLimitFigures {
  model: string;
  /** @default 'org-mock' */
  organization?: string | undefined;
  dimension: LimitDimension;
  period: LimitPeriod;
  limit: number;
  /** The bucket's level, an integer (the emulator rounds up). */
  used: number;
  requested: number;
  /** The wait quoted after "Please try again in", in ms; printed as a Go duration. */
  waitMs: number;
}

/**
 * 429 `rate_limit_exceeded`: "Rate limit reached for gpt-4o-mini in organization org-abc on tokens per
 * min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s. …". `type` is the
 * dimension (`tokens` or `requests`).
 */
export function rateLimitError(f: RateLimitFigures): OpenAIErrorBody {
  const org = f.organization ?? MOCK_ORGANIZATION;
  return {
    error: {
      message:
        `Rate limit reached for ${f.model} in organization ${org} on ${limitName(f.dimension, f.period)}: ` +
        `Limit ${f.limit}, Used ${f.used}, Requested ${f.requested}. ` +
        `Please try again in ${formatGoDuration(f.waitMs)}. Visit ${RATE_LIMITS_URL} to learn more.`,
      type: f.dimension,
      param: null,
      code: 'rate_limit_exceeded',
    },
  };
}

/** Figures of a request that can never fit its bucket. */
export interface RequestTooLargeFigures {
  model: string;
  /** @default 'org-mock' */
  organization?: string | undefined;
  dimension: LimitDimension;
  period: LimitPeriod;
  limit: number;
  requested: number;
}

/**
 * 429 "Request too large": the cost exceeds the bucket's capacity, so retrying cannot help. Same
 * `code` as a rate limit (`rate_limit_exceeded`); the message has no "Used" and no wait.
 */
export function requestTooLargeError(f: RequestTooLargeFigures): OpenAIErrorBody {
  const org = f.organization ?? MOCK_ORGANIZATION;
  return {
    error: {
      message:
        `Request too large for ${f.model} in organization ${org} on ${limitName(f.dimension, f.period)}: ` +
        `Limit ${f.limit}, Requested ${f.requested}. ` +
        `The input or output tokens must be reduced in order to run successfully. Visit ${RATE_LIMITS_URL} to learn more.`,
      type: f.dimension,
      param: null,
      code: 'rate_limit_exceeded',
    },
  };
}

/** 429 `insufficient_quota`: billing, not pacing. Retrying cannot help. */
export function insufficientQuotaError(): OpenAIErrorBody {
  return {
    error: {
      message:
        'You exceeded your current quota, please check your plan and billing details. ' +
        `For more information on this error, read the docs: ${ERROR_CODES_URL}.`,
      type: 'insufficient_quota',
      param: null,
      code: 'insufficient_quota',
    },
  };
}

/** 429 `slow_down`: traffic grew too fast, even within the limits. Retry and ramp up more gently. */
export function slowDownError(): OpenAIErrorBody {
  return {
    error: {
      message:
        'Your request rate is increasing too quickly. Please reduce your request rate, ramp up more gradually ' +
        `and try again. Visit ${RATE_LIMITS_URL} to learn more.`,
      type: 'rate_limit_error',
      param: null,
      code: 'slow_down',
    },
  };
}

/** 400 `invalid_request_error` (bad JSON, missing or malformed parameter). */
export function invalidRequestError(
  message: string,
  param: string | null = null,
  code: string | null = null,
): OpenAIErrorBody {
  return { error: { message, type: 'invalid_request_error', param, code } };
}

/** The 400 for a body that is not JSON, worded as OpenAI words it. */
export function invalidJsonError(): OpenAIErrorBody {
  return invalidRequestError(
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP " +
      'library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you ' +
      'have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)',
  );
}

/** Shows a key the way OpenAI does in a 401: the first 3 and last 4 characters, the rest starred. */
export function redactApiKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}

/** 401 `invalid_api_key`: no key (`key` undefined or empty) or a key the server does not know. */
export function invalidApiKeyError(key?: string): OpenAIErrorBody {
  const message =
    key === undefined || key === ''
      ? "You didn't provide an API key. You need to provide your API key in an Authorization header using " +
        'Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if ' +
        "you're accessing the API from your browser and are prompted for a username and password. You can " +
        'obtain an API key from https://platform.openai.com/account/api-keys.'
      : `Incorrect API key provided: ${redactApiKey(key)}. You can find your API key at https://platform.openai.com/account/api-keys.`;
  return { error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
}

/** 404 for a path the API does not serve. */
export function notFoundError(method: string, path: string): OpenAIErrorBody {
  return invalidRequestError(`Invalid URL (${method} ${path})`);
}

/** 5xx `server_error` bodies: 500 (the default), 502 and 503 have their own wording. */
export function serverError(status: 500 | 502 | 503 = 500): OpenAIErrorBody {
  const message =
    status === 503
      ? 'The server is overloaded or not ready yet.'
      : status === 502
        ? 'Bad gateway.'
        : 'The server had an error while processing your request. Sorry about that!';
  return { error: { message, type: 'server_error', param: null, code: null } };
}

/** `: model_not_found: The model … does not exist` from an OpenAI-shaped error body, or ''. */
export function describeBody(body: unknown): string {
  const error = (body as { error?: { code?: unknown; type?: unknown; message?: unknown } } | null)?.error;
  if (typeof error !== 'object' || error === null) return '';
  const code =
    typeof error.code === 'string' ? error.code : typeof error.type === 'string' ? error.type : undefined;
  const message = typeof error.message === 'string' ? error.message : undefined;
  return [code, message]
    .filter((x) => x !== undefined)
    .map((x) => `: ${x}`)
    .join('');
}
