/**
 * Options of the emulator: one typed object, defaults in one constant, validated once when the server
 * starts. The CLI maps its flags onto these fields and reuses the validation (with flag names in the
 * messages).
 */

/** Where the emulator reads the time. Milliseconds since the epoch; must not go backwards much. */
export interface MockClock {
  now(): number;
}

/** Which provider's headers, error bodies and endpoints the emulator speaks. */
export type MockFlavor = 'openai' | 'azure' | 'anthropic';

/** When the token charge is final: at admission (OpenAI's behaviour), or corrected to actual usage. */
export type MockSettle = 'admission' | 'usage';

export interface MockOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  port?: number | undefined;
  /** Interface to bind. @default '127.0.0.1' */
  host?: string | undefined;
  /** Dialect of headers, bodies and endpoints. @default 'openai' */
  flavor?: MockFlavor | undefined;
  /** Requests per minute per (API key, model); 0 means unlimited. @default 500 */
  rpm?: number | undefined;
  /** Tokens per minute per (API key, model); 0 means unlimited. @default 200000 */
  tpm?: number | undefined;
  /** Requests per day per (API key, model); 0 means unlimited. @default 0 */
  rpd?: number | undefined;
  /** Tokens per day per (API key, model); 0 means unlimited. @default 0 */
  tpd?: number | undefined;
  /** Input tokens per minute (Anthropic flavor only); 0 means unlimited. @default 0 */
  itpm?: number | undefined;
  /** Output tokens per minute (Anthropic flavor only), charged `max_tokens`; 0 means unlimited. @default 0 */
  otpm?: number | undefined;
  /**
   * Burst of the per-minute buckets in seconds: capacity = limit × burstSeconds / 60. 60 lets a full
   * minute's worth through at once; 1 enforces "60,000 RPM as 1,000 per second". Per-day buckets always
   * hold one day's limit. @default 60
   */
  burstSeconds?: number | undefined;
  /** Completion tokens charged (and the most generated) when a request names no max. @default 16 */
  defaultMaxTokens?: number | undefined;
  /** `usage`: after the answer, correct the token charge to prompt + completion tokens. @default 'admission' */
  settle?: MockSettle | undefined;
  /** Charge a refused request 1 in the request buckets (OpenAI counts failed requests too). @default false */
  countRejected?: boolean | undefined;
  /** Tokens (prompt + completion) per API key before every request gets `insufficient_quota`. @default unlimited */
  quotaTokens?: number | undefined;
  /** Admitted requests per API key before every request gets `insufficient_quota`. @default unlimited */
  quotaRequests?: number | undefined;
  /**
   * Refuse with `slow_down` when the requests admitted in the current second of a lane would exceed
   * `max(slowDownMin, slowDownFactor × those admitted in the previous second)`. @default off
   */
  slowDownFactor?: number | undefined;
  /** Requests per second always allowed by the slow_down rule. @default 10 */
  slowDownMin?: number | undefined;
  /** Send `retry-after` (integer seconds) on rate-limit 429s. @default true */
  retryAfter?: boolean | undefined;
  /** Send `retry-after-ms` on rate-limit 429s. @default true */
  retryAfterMs?: boolean | undefined;
  /** Delay before an admitted answer's headers, in ms. @default 0 */
  latencyMs?: number | undefined;
  /** Generation time per completion token, in ms: paces stream deltas, delays JSON answers. @default 0 */
  msPerToken?: number | undefined;
  /** Probability (0–1) of answering 500, 502 or 503 instead of handling a request. @default 0 */
  errorRate?: number | undefined;
  /** Probability (0–1) that an admitted answer's connection is cut mid-body. @default 0 */
  resetRate?: number | undefined;
  /** Probability (0–1) that an admitted stream ends early, without its final events or `[DONE]`. @default 0 */
  streamCutRate?: number | undefined;
  /** Accepted API keys; any other key (or none) gets 401. @default any key, or none */
  keys?: readonly string[] | undefined;
  /** Seed of the fault dice and of the generated text. @default random dice, text seed 0 */
  seed?: number | undefined;
  /** Organization named in rate-limit messages. @default 'org-mock' */
  organization?: string | undefined;
  /** Time source for the bucket math. Delays still use real timers. @default Date.now */
  clock?: MockClock | undefined;
}

/** Options after defaults and validation. Limits of 0 are `undefined` (no bucket). */
export interface ResolvedMockOptions {
  port: number;
  host: string;
  flavor: MockFlavor;
  rpm: number | undefined;
  tpm: number | undefined;
  rpd: number | undefined;
  tpd: number | undefined;
  itpm: number | undefined;
  otpm: number | undefined;
  burstSeconds: number;
  defaultMaxTokens: number;
  settle: MockSettle;
  countRejected: boolean;
  quotaTokens: number | undefined;
  quotaRequests: number | undefined;
  slowDownFactor: number | undefined;
  slowDownMin: number;
  retryAfter: boolean;
  retryAfterMs: boolean;
  latencyMs: number;
  msPerToken: number;
  errorRate: number;
  resetRate: number;
  streamCutRate: number;
  keys: ReadonlySet<string> | undefined;
  seed: number | undefined;
  organization: string;
  clock: MockClock;
}

/** Every default in one place. */
export const MOCK_DEFAULTS = {
  port: 0,
  host: '127.0.0.1',
  flavor: 'openai',
  rpm: 500,
  tpm: 200_000,
  rpd: 0,
  tpd: 0,
  itpm: 0,
  otpm: 0,
  burstSeconds: 60,
  defaultMaxTokens: 16,
  settle: 'admission',
  countRejected: false,
  slowDownMin: 10,
  retryAfter: true,
  retryAfterMs: true,
  latencyMs: 0,
  msPerToken: 0,
  errorRate: 0,
  resetRate: 0,
  streamCutRate: 0,
  organization: 'org-mock',
} as const satisfies Partial<Record<keyof MockOptions, unknown>>;

const REAL_CLOCK: MockClock = { now: () => Date.now() };

/** A bad option value. `option` is the field name; the message names it as the caller asked. */
export class MockOptionError extends RangeError {
  constructor(
    readonly option: keyof MockOptions,
    message: string,
  ) {
    super(message);
    this.name = 'MockOptionError';
  }
}

/** How an option is named in messages: the field name for the library, the flag for the CLI. */
export type OptionLabel = (option: keyof MockOptions) => string;

/**
 * Applies defaults and checks every value. Throws {@link MockOptionError} naming the option (through
 * `label`) and what would be accepted.
 */
export function resolveMockOptions(
  options: MockOptions = {},
  label: OptionLabel = (o) => o,
): ResolvedMockOptions {
  const fail = (option: keyof MockOptions, message: string): never => {
    throw new MockOptionError(option, `${label(option)}: ${message}`);
  };
  const count = (option: keyof MockOptions, fallback: number): number => {
    const value = options[option] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      fail(option, `expected a whole number from 0 up, got ${String(value)}`);
    }
    return value as number;
  };
  const limit = (option: keyof MockOptions, fallback: number): number | undefined => {
    const value = count(option, fallback);
    return value === 0 ? undefined : value;
  };
  const positive = (option: keyof MockOptions, fallback: number): number => {
    const value = options[option] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      fail(option, `expected a number above 0, got ${String(value)}`);
    }
    return value as number;
  };
  const nonNegative = (option: keyof MockOptions, fallback: number): number => {
    const value = options[option] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      fail(option, `expected a number from 0 up, got ${String(value)}`);
    }
    return value as number;
  };
  const probability = (option: keyof MockOptions): number => {
    const value = options[option] ?? 0;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      fail(option, `expected a probability from 0 to 1, got ${String(value)}`);
    }
    return value as number;
  };
  const oneOf = <T extends string>(option: keyof MockOptions, allowed: readonly T[], fallback: T): T => {
    const value = options[option] ?? fallback;
    if (!allowed.includes(value as T))
      fail(option, `expected one of ${allowed.join(', ')}, got ${String(value)}`);
    return value as T;
  };

  const port = count('port', MOCK_DEFAULTS.port);
  if (port > 65_535) fail('port', `expected a port from 0 to 65535, got ${port}`);
  const host = options.host ?? MOCK_DEFAULTS.host;
  if (typeof host !== 'string' || host === '') fail('host', 'expected a host name or address');

  const flavor = oneOf<MockFlavor>('flavor', ['openai', 'azure', 'anthropic'], MOCK_DEFAULTS.flavor);
  const burstSeconds = positive('burstSeconds', MOCK_DEFAULTS.burstSeconds);
  const rpm = limit('rpm', MOCK_DEFAULTS.rpm);
  const tpm = limit('tpm', MOCK_DEFAULTS.tpm);
  const itpm = limit('itpm', MOCK_DEFAULTS.itpm);
  const otpm = limit('otpm', MOCK_DEFAULTS.otpm);
  if (flavor !== 'anthropic') {
    if (itpm !== undefined)
      fail('itpm', `input-token limits exist only with the anthropic flavor (got ${flavor})`);
    if (otpm !== undefined)
      fail('otpm', `output-token limits exist only with the anthropic flavor (got ${flavor})`);
  }
  // A request bucket that cannot hold one request would refuse everything, forever.
  if (rpm !== undefined && (rpm * burstSeconds) / 60 < 1) {
    fail(
      'rpm',
      `${rpm} requests per minute with a burst of ${burstSeconds}s holds less than one request; ` +
        `raise ${label('burstSeconds')} to at least ${Math.ceil(60 / rpm)}`,
    );
  }

  const keys = options.keys;
  if (
    keys !== undefined &&
    (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string' || k === ''))
  ) {
    fail('keys', 'expected a non-empty list of non-empty API keys');
  }
  const seed = options.seed;
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
    fail('seed', `expected a whole number from 0 up, got ${String(seed)}`);
  }
  const quotaTokens = options.quotaTokens === undefined ? undefined : count('quotaTokens', 0);
  const quotaRequests = options.quotaRequests === undefined ? undefined : count('quotaRequests', 0);
  const slowDownFactor = options.slowDownFactor === undefined ? undefined : positive('slowDownFactor', 1);
  if (slowDownFactor !== undefined && slowDownFactor < 1) {
    fail('slowDownFactor', `expected a growth factor of at least 1, got ${slowDownFactor}`);
  }
  const clock = options.clock ?? REAL_CLOCK;
  if (typeof clock.now !== 'function') fail('clock', 'expected an object with a now() method');
  const organization = options.organization ?? MOCK_DEFAULTS.organization;
  if (typeof organization !== 'string' || organization === '')
    fail('organization', 'expected an organization id');

  return {
    port,
    host,
    flavor,
    rpm,
    tpm,
    rpd: limit('rpd', MOCK_DEFAULTS.rpd),
    tpd: limit('tpd', MOCK_DEFAULTS.tpd),
    itpm,
    otpm,
    burstSeconds,
    defaultMaxTokens: Math.max(1, count('defaultMaxTokens', MOCK_DEFAULTS.defaultMaxTokens)),
    settle: oneOf<MockSettle>('settle', ['admission', 'usage'], MOCK_DEFAULTS.settle),
    countRejected: options.countRejected ?? MOCK_DEFAULTS.countRejected,
    quotaTokens,
    quotaRequests,
    slowDownFactor,
    slowDownMin: positive('slowDownMin', MOCK_DEFAULTS.slowDownMin),
    retryAfter: options.retryAfter ?? MOCK_DEFAULTS.retryAfter,
    retryAfterMs: options.retryAfterMs ?? MOCK_DEFAULTS.retryAfterMs,
    latencyMs: nonNegative('latencyMs', MOCK_DEFAULTS.latencyMs),
    msPerToken: nonNegative('msPerToken', MOCK_DEFAULTS.msPerToken),
    errorRate: probability('errorRate'),
    resetRate: probability('resetRate'),
    streamCutRate: probability('streamCutRate'),
    keys: keys === undefined ? undefined : new Set(keys),
    seed,
    organization,
    clock,
  };
}
