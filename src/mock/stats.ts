/**
 * Counters behind `GET /__mock/stats` and `stats()`. Plain numbers updated in place: no allocation on
 * the request path except when a new second starts.
 */
import type { Decision } from './limiter.js';

/** A decision of the limiter other than admission. */
type Refusal = Exclude<Decision, { kind: 'admitted' }>;

/** Refusals by kind (429s, plus Anthropic's credit 400 under `quota`). */
export interface MockRejections {
  total: number;
  /** Requests per minute. */
  rpm: number;
  /** Tokens per minute. */
  tpm: number;
  /** Requests per day. */
  rpd: number;
  /** Tokens per day. */
  tpd: number;
  /** Input tokens per minute (Anthropic). */
  itpm: number;
  /** Output tokens per minute (Anthropic). */
  otpm: number;
  /** "Request too large": cost above a bucket's capacity. */
  tooLarge: number;
  /** `insufficient_quota`. */
  quota: number;
  /** `slow_down`. */
  slowDown: number;
}

export interface MockErrors {
  /** 400 `invalid_request_error`. */
  badRequest: number;
  /** 401. */
  unauthorized: number;
  /** 404: unknown path or method. */
  notFound: number;
  /** 413: a request body above 32 MiB. */
  bodyTooLarge: number;
  /** Injected 500/502/503 (`errorRate`). */
  injected: number;
  /** Connections cut mid-body (`resetRate`). */
  resets: number;
  /** Streams ended early (`streamCutRate`). */
  streamCuts: number;
}

/** Admissions in one second of the clock. */
export interface MockSecond {
  /** Unix second (`floor(clock.now() / 1000)`). */
  second: number;
  requests: number;
  tokens: number;
}

/** The JSON of `GET /__mock/stats`. */
export interface MockStats {
  /** API requests received (everything but `/__mock/*`). */
  received: number;
  /** Requests the limiter admitted. */
  admitted: number;
  rejected: MockRejections;
  errors: MockErrors;
  tokens: {
    /** Tokens charged at admission (before any settlement). */
    charged: number;
    /** `usage` prompt tokens of admitted requests. */
    prompt: number;
    /** `usage` completion tokens of admitted requests. */
    completion: number;
  };
  /** Admitted requests and charged tokens per second, oldest first, the last {@link PER_SECOND_KEPT} seconds. */
  perSecond: MockSecond[];
  concurrency: {
    /** Requests being answered now. */
    current: number;
    /** Most requests answered at once since start or reset. */
    max: number;
  };
}

/** Seconds of history kept for `perSecond`. */
export const PER_SECOND_KEPT = 600;

export class StatsRecorder {
  received = 0;
  admitted = 0;
  rejected: MockRejections = emptyRejections();
  errors: MockErrors = emptyErrors();
  charged = 0;
  prompt = 0;
  completion = 0;
  current = 0;
  max = 0;
  #seconds: MockSecond[] = [];

  /** Counts one admission at `now`. */
  admit(now: number, tokens: number): void {
    this.admitted += 1;
    this.charged += tokens;
    const second = Math.floor(now / 1000);
    let last = this.#seconds[this.#seconds.length - 1];
    if (last === undefined || last.second !== second) {
      // An injected clock may go backwards; find or insert the second so the list stays ordered.
      const found = this.#seconds.findIndex((s) => s.second >= second);
      if (found !== -1 && this.#seconds[found]!.second === second) {
        last = this.#seconds[found]!;
      } else {
        last = { second, requests: 0, tokens: 0 };
        if (found === -1) this.#seconds.push(last);
        else this.#seconds.splice(found, 0, last);
        const newest = this.#seconds[this.#seconds.length - 1]!.second;
        while (this.#seconds.length > 0 && this.#seconds[0]!.second <= newest - PER_SECOND_KEPT)
          this.#seconds.shift();
      }
    }
    last.requests += 1;
    last.tokens += tokens;
  }

  /** Counts one refusal by its kind. */
  refuse(decision: Refusal): void {
    const rejected = this.rejected;
    rejected.total += 1;
    switch (decision.kind) {
      case 'rate_limited': {
        const day = decision.period === 'day';
        if (decision.dimension === 'requests') rejected[day ? 'rpd' : 'rpm'] += 1;
        else if (decision.dimension === 'tokens') rejected[day ? 'tpd' : 'tpm'] += 1;
        else rejected[decision.dimension === 'inputTokens' ? 'itpm' : 'otpm'] += 1;
        break;
      }
      case 'too_large':
        rejected.tooLarge += 1;
        break;
      case 'quota':
        rejected.quota += 1;
        break;
      case 'slow_down':
        rejected.slowDown += 1;
        break;
    }
  }

  enter(): void {
    this.current += 1;
    if (this.current > this.max) this.max = this.current;
  }

  leave(): void {
    this.current -= 1;
  }

  /** Clears every counter; requests in flight stay counted in `current`. */
  reset(): void {
    this.received = 0;
    this.admitted = 0;
    this.rejected = emptyRejections();
    this.errors = emptyErrors();
    this.charged = 0;
    this.prompt = 0;
    this.completion = 0;
    this.max = this.current;
    this.#seconds = [];
  }

  snapshot(): MockStats {
    return {
      received: this.received,
      admitted: this.admitted,
      rejected: { ...this.rejected },
      errors: { ...this.errors },
      tokens: { charged: this.charged, prompt: this.prompt, completion: this.completion },
      perSecond: this.#seconds.map((s) => ({ ...s })),
      concurrency: { current: this.current, max: this.max },
    };
  }
}

function emptyRejections(): MockRejections {
  return { total: 0, rpm: 0, tpm: 0, rpd: 0, tpd: 0, itpm: 0, otpm: 0, tooLarge: 0, quota: 0, slowDown: 0 };
}

function emptyErrors(): MockErrors {
  return {
    badRequest: 0,
    unauthorized: 0,
    notFound: 0,
    bodyTooLarge: 0,
    injected: 0,
    resets: 0,
    streamCuts: 0,
  };
}
