/**
 * A provider's way of speaking: where the API key is, which rate-limit headers describe a lane, and how
 * each refusal and error is worded. Implementations live in `dialects/`; the server picks one by flavor
 * and never looks at provider details itself.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Decision, Lane } from './limiter.js';
import type { BadRequest, Endpoint } from './request.js';

/** An error answer before headers common to every answer are added. */
export interface ErrorReply {
  status: number;
  /** JSON text. */
  body: string;
  /**
   * The wait to advertise in `retry-after` / `retry-after-ms` (rate-limit refusals only). Absent for
   * errors retrying cannot fix (quota, request too large).
   */
  retryAfterMs?: number;
}

/** What a refusal's wording may need besides the decision. */
export interface RefusalContext {
  model: string;
  endpoint: Endpoint;
  organization: string;
  /** Azure's `api-version` query parameter, when given. */
  apiVersion: string | undefined;
}

export interface Dialect {
  /** Whether rate-limit refusals may carry `retry-after-ms` (OpenAI and Azure; not Anthropic). */
  readonly sendsRetryAfterMs: boolean;
  /** The caller's API key, or `undefined`. */
  apiKey(headers: IncomingHttpHeaders): string | undefined;
  /** Appends the request-id header(s) for `id` (hex) and provider extras to a flat header list. */
  identityHeaders(id: string, processingMs: number, out: string[]): void;
  /** Appends the lane's rate-limit headers at `now` to a flat header list. */
  limitHeaders(lane: Lane, now: number, out: string[]): void;
  /** The answer to a refusal of the limiter (anything but `admitted`). */
  refusal(decision: Exclude<Decision, { kind: 'admitted' }>, ctx: RefusalContext): ErrorReply;
  badRequest(error: BadRequest): ErrorReply;
  unauthorized(key: string | undefined): ErrorReply;
  serverError(status: 500 | 502 | 503): ErrorReply;
  notFound(method: string, path: string): ErrorReply;
}
