/**
 * Options of the emulator, declared once: {@link MOCK_OPTIONS} is the table that `startMock()` resolves,
 * `sluice mock` turns into flags (`src/cli/mock.ts`) and docs/mock.md's reference is checked against.
 * The JSDoc on each entry is the JSDoc of the {@link MockOptions} field.
 */
import {
  defaultsOf,
  OptionError,
  resolveOptions,
  type OptionNaming,
  type OptionsInput,
  type OptionTable,
  type ResolvedOptions,
} from '../formats/options.js';
import {
  boolean,
  custom,
  limit,
  list,
  number,
  oneOf,
  positive,
  probability,
  text,
  whole,
} from '../formats/option-kinds.js';

/** Where the emulator reads the time. Milliseconds since the epoch; must not go backwards much. */
export interface MockClock {
  now(): number;
}

/** The dialects the emulator speaks. */
export const MOCK_FLAVORS = ['openai', 'azure', 'anthropic'] as const;

/** Which provider's headers, error bodies and endpoints the emulator speaks. */
export type MockFlavor = (typeof MOCK_FLAVORS)[number];

/** When the token charge is final: at admission (OpenAI's behaviour), or corrected to actual usage. */
export type MockSettle = 'admission' | 'usage';

/**
 * The longest delay a Node.js timer accepts (2^31 − 1 ms, about 24.8 days). A longer one fires at once
 * with a `TimeoutOverflowWarning`, so delay options refuse more.
 */
export const MAX_TIMER_MS = 2_147_483_647;

const REAL_CLOCK: MockClock = { now: () => Date.now() };

const isClock = (value: unknown): value is MockClock =>
  value !== null && typeof value === 'object' && typeof (value as MockClock).now === 'function';

const delay = {
  max: MAX_TIMER_MS,
  expected: `a number of milliseconds from 0 to ${MAX_TIMER_MS} (about 24.8 days, the longest timer Node.js allows)`,
  placeholder: 'ms',
} as const;

/** Every option of the emulator: kind, default, flag and help line. */
export const MOCK_OPTIONS = {
  /** TCP port; 0 picks a free one. @default 0 */
  port: whole({
    max: 65_535,
    expected: 'a port from 0 to 65535',
    default: 0,
    help: 'TCP port (0 picks a free one)',
  }),
  /** Interface to bind. @default '127.0.0.1' */
  host: text({
    expected: 'a host name or address',
    default: '127.0.0.1',
    placeholder: 'host',
    help: 'interface to bind',
  }),
  /** Dialect of headers, bodies and endpoints. @default 'openai' */
  flavor: oneOf(MOCK_FLAVORS, {
    default: 'openai',
    help: "dialect of headers and error bodies ('anthropic' adds /v1/messages)",
  }),
  /** Requests per minute per (API key, model); 0 means unlimited. @default 500 */
  rpm: limit({ default: 500, help: 'requests per minute per (API key, model); 0 = unlimited' }),
  /** Tokens per minute per (API key, model); 0 means unlimited. @default 200000 */
  tpm: limit({ default: 200_000, help: 'tokens per minute per (API key, model); 0 = unlimited' }),
  /** Requests per day per (API key, model); 0 means unlimited. @default 0 */
  rpd: limit({ default: 0, help: 'requests per day per (API key, model); 0 = unlimited' }),
  /** Tokens per day per (API key, model); 0 means unlimited. @default 0 */
  tpd: limit({ default: 0, help: 'tokens per day per (API key, model); 0 = unlimited' }),
  /** Input tokens per minute (Anthropic flavor only); 0 means unlimited. @default 0 */
  itpm: limit({ default: 0, help: 'input tokens per minute (anthropic flavor); 0 = unlimited' }),
  /** Output tokens per minute (Anthropic flavor only), charged `max_tokens`; 0 means unlimited. @default 0 */
  otpm: limit({
    default: 0,
    help: 'output tokens per minute, charged max_tokens (anthropic flavor); 0 = unlimited',
  }),
  /**
   * Burst of the per-minute buckets in seconds: capacity = limit × burstSeconds / 60. 60 lets a full
   * minute's worth through at once; 1 enforces "60,000 RPM as 1,000 per second". Per-day buckets always
   * hold one day's limit. @default 60
   */
  burstSeconds: positive({
    default: 60,
    placeholder: 's',
    help: 'per-minute bucket capacity = limit x s / 60 (60: a whole minute at once; 1: one second)',
  }),
  /** Completion tokens charged (and the most generated) when a request names no max. @default 16 */
  defaultMaxTokens: whole({
    default: 16,
    help: 'completion tokens charged (and most generated) when a request names no max',
  }),
  /**
   * Most completion tokens generated for one answer, over all its choices (each of `n` choices gets at
   * most `floor(maxGeneratedTokens / n)`, at least 1). A request's larger max is still charged in full
   * against the limits; only the text is shorter. Keeps a request like `max_tokens: 1000000000` from
   * exhausting the server's memory. @default 4096
   */
  maxGeneratedTokens: whole({
    min: 1,
    max: 1_000_000,
    default: 4096,
    help: 'most completion tokens generated per answer (a larger max is still charged in full)',
  }),
  /** `usage`: after the answer, correct the token charge to prompt + completion tokens. @default 'admission' */
  settle: oneOf(['admission', 'usage'] as const satisfies readonly MockSettle[], {
    default: 'admission',
    placeholder: 'when',
    help: "token charge is final at 'admission', or corrected to actual 'usage' after the answer",
  }),
  /** Charge a refused request 1 in the request buckets (OpenAI counts failed requests too). @default false */
  countRejected: boolean({
    default: false,
    help: 'charge a refused request 1 in the request buckets, as OpenAI counts failed requests',
  }),
  /** Tokens (prompt + completion) per API key before every request gets `insufficient_quota`. @default unlimited */
  quotaTokens: whole({
    defaultText: 'unlimited',
    help: 'tokens (prompt + completion) per API key, then insufficient_quota',
  }),
  /** Admitted requests per API key before every request gets `insufficient_quota`. @default unlimited */
  quotaRequests: whole({
    defaultText: 'unlimited',
    help: 'admitted requests per API key, then insufficient_quota',
  }),
  /**
   * Refuse with `slow_down` when the requests admitted in the current second of a lane would exceed
   * `max(slowDownMin, slowDownFactor × those admitted in the previous second)`. @default off
   */
  slowDownFactor: number({
    min: 1,
    expected: 'a growth factor of at least 1',
    defaultText: 'off',
    placeholder: 'f',
    help: 'answer slow_down when a second admits more than f x the previous second (and more than --slow-down-min)',
  }),
  /** Requests per second always allowed by the slow_down rule. @default 10 */
  slowDownMin: positive({
    default: 10,
    placeholder: 'n',
    help: 'requests per second always allowed by --slow-down-factor',
  }),
  /** Send `retry-after` (integer seconds) on rate-limit 429s. @default true */
  retryAfter: boolean({
    default: true,
    defaultText: 'sent',
    help: 'omit the retry-after header (integer seconds) on rate-limit 429s',
  }),
  /** Send `retry-after-ms` on rate-limit 429s. @default true */
  retryAfterMs: boolean({
    default: true,
    defaultText: 'sent',
    help: 'omit the retry-after-ms header on rate-limit 429s',
  }),
  /** Delay before an admitted answer's headers, in ms; at most {@link MAX_TIMER_MS}. @default 0 */
  latencyMs: number({ ...delay, default: 0, help: 'delay before each admitted answer' }),
  /**
   * Generation time per completion token, in ms: paces stream deltas, delays JSON answers; at most
   * {@link MAX_TIMER_MS}. @default 0
   */
  msPerToken: number({
    ...delay,
    default: 0,
    help: 'generation time per completion token (paces stream deltas)',
  }),
  /** Probability (0–1) of answering 500, 502 or 503 instead of handling a request. @default 0 */
  errorRate: probability({
    default: 0,
    help: 'probability of answering 500, 502 or 503 instead (charged nothing)',
  }),
  /** Probability (0–1) that an admitted answer's connection is cut mid-body. @default 0 */
  resetRate: probability({
    default: 0,
    help: 'probability of cutting an admitted answer connection mid-body',
  }),
  /** Probability (0–1) that an admitted stream ends early, without its final events or `[DONE]`. @default 0 */
  streamCutRate: probability({
    default: 0,
    help: 'probability of ending an admitted stream early, without its last events or [DONE]',
  }),
  /** Accepted API keys; any other key (or none) gets 401. @default any key, or none */
  keys: list({
    items: 'API keys',
    defaultText: 'any key, or none',
    help: 'comma-separated accepted API keys; any other key (or none) gets 401',
  }),
  /** Seed of the fault dice and of the generated text. @default random dice, text seed 0 */
  seed: whole({
    defaultText: 'random dice, text seed 0',
    help: 'seed of the fault dice and generated text (same seed, same run)',
  }),
  /** Organization named in rate-limit messages. @default 'org-mock' */
  organization: text({
    expected: 'an organization id',
    default: 'org-mock',
    placeholder: 'id',
    help: 'organization named in rate-limit messages',
  }),
  /** Time source for the bucket math. Delays still use real timers. @default Date.now */
  clock: custom(isClock, {
    expected: 'an object with a now() method',
    default: REAL_CLOCK,
    defaultText: 'Date.now',
    help: '`{ now(): number }` in ms, for exact figures in tests',
  }),
} satisfies OptionTable;

/** What `startMock()` takes: every field optional, `undefined` meaning its default. */
export type MockOptions = OptionsInput<typeof MOCK_OPTIONS>;

/** Options after defaults and validation. Limits of 0 are `undefined` (no bucket). */
export type ResolvedMockOptions = ResolvedOptions<typeof MOCK_OPTIONS>;

/** Every default in one place (taken from {@link MOCK_OPTIONS}). */
export const MOCK_DEFAULTS = defaultsOf(MOCK_OPTIONS);

/** A bad option value. `option` is the field name; the message names it as the caller asked. */
export class MockOptionError extends OptionError {
  constructor(option: string, message: string) {
    super(option, message);
    this.name = 'MockOptionError';
  }
}

/**
 * Applies defaults and checks every value. Throws {@link MockOptionError} naming the option (through
 * `naming`: `` `rpm` `` for the library, `--rpm` for the CLI) and what would be accepted.
 */
export function resolveMockOptions(
  options: MockOptions = {},
  naming?: OptionNaming | ((option: string) => string),
): ResolvedMockOptions {
  return resolveOptions(MOCK_OPTIONS, options, {
    naming,
    error: MockOptionError,
    check: (o, fail) => {
      if (o.flavor !== 'anthropic') {
        if (o.itpm !== undefined)
          fail('itpm', () => `input-token limits exist only with the anthropic flavor (got ${o.flavor})`);
        if (o.otpm !== undefined)
          fail('otpm', () => `output-token limits exist only with the anthropic flavor (got ${o.flavor})`);
      }
      // A request bucket that cannot hold one request would refuse everything, forever.
      if (o.rpm !== undefined && (o.rpm * o.burstSeconds) / 60 < 1) {
        const rpm = o.rpm;
        fail(
          'rpm',
          (name) =>
            `${rpm} requests per minute with a burst of ${o.burstSeconds}s holds less than one request; ` +
            `raise ${name('burstSeconds')} to at least ${Math.ceil(60 / rpm)}`,
        );
      }
    },
  });
}
