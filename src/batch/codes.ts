/**
 * The codes that can appear in `error.code` of an errors-file line, and what `--resume` does with each.
 * docs/batch.md lists every one (a test keeps the two in sync).
 */
import type { ErrorCode } from '../engine/errors.js';

/** What `--resume` does with a line that failed with a code. */
export type ResumeAction =
  /** The input line is checked again (it may have been fixed); the old entry is dropped. */
  | 'revalidate'
  /** Sent again by every `--resume`: the failure said nothing about the request itself. */
  | 'rerun'
  /** Kept as a final failure; sent again only with `--retry-failed`. */
  | 'keep';

export const BATCH_ERROR_CODES = {
  /** The line is not JSON. */
  invalid_json: 'revalidate',
  /** The line is JSON but not a Batch request (not an object, `body` not an object, `custom_id` not a string). */
  invalid_line: 'revalidate',
  /** The line has no `custom_id`. */
  missing_custom_id: 'revalidate',
  /** The `custom_id` was already used on an earlier line (that one runs). */
  duplicate_custom_id: 'revalidate',
  /** `method` is not `POST`. */
  unsupported_method: 'revalidate',
  /** `url` is not an endpoint Sluice can run (chat completions, completions, embeddings, responses). */
  unsupported_url: 'revalidate',
  /** Not sent: the run stopped first (a quota error, a refused API key). */
  not_attempted: 'rerun',
  /** The API refused the key (401); the run stopped. */
  unauthorized: 'rerun',
  /** The account's quota is spent; the run stopped. */
  quota_exhausted: 'rerun',
  /** The API answered 4xx (400, 403, 404, 422…): the request itself is wrong. `response` has the answer. */
  upstream_rejected: 'keep',
  /** 429s outlasted the retries allowed for one request. */
  rate_limited: 'keep',
  /** The request needs more tokens than the lane can ever admit. */
  request_too_large: 'keep',
  /** 5xx or connection failures outlasted the retries. */
  upstream_error: 'keep',
  /** Could not be admitted in time (only with engine deadlines; not used by default). */
  deadline_exceeded: 'keep',
  /** The engine's queue was full (not expected: the window is smaller than the queue). */
  queue_full: 'keep',
  /** An option the engine could not use. */
  invalid_option: 'keep',
  /** A 2xx answer whose body is not a JSON object (a web page, a proxy's page): not an API answer. */
  invalid_response: 'keep',
  /** Aborted by the engine (not expected: interrupted lines are not written). */
  aborted: 'rerun',
} as const satisfies Record<string, ResumeAction> & Record<ErrorCode, ResumeAction>;

export type BatchErrorCode = keyof typeof BATCH_ERROR_CODES;

/** What `--resume` does with an errors-file entry; unknown codes are kept. */
export function resumeActionOf(code: string): ResumeAction {
  return (BATCH_ERROR_CODES as Record<string, ResumeAction>)[code] ?? 'keep';
}
