/**
 * The OpenAI Batch API file format (docs/rate-limits.md, "Batch API file format"): what `sluice batch` reads
 * and writes. Pure shapes and builders; no I/O.
 */
import { randomBytes } from 'node:crypto';

/** One line of a Batch input file. `custom_id` is unique within the file. */
export interface BatchInputLine {
  custom_id: string;
  method: string;
  /** The endpoint path, like `/v1/chat/completions`. */
  url: string;
  /** The request body, sent as JSON. */
  body: Record<string, unknown>;
}

/** The upstream's answer to one request. */
export interface BatchResponse {
  status_code: number;
  /** The upstream's `x-request-id`, when it sent one. */
  request_id: string | null;
  /** The answer's JSON body (its text when it was not JSON). */
  body: unknown;
}

/** One line of the output file: a request that succeeded. */
export interface BatchOutputLine {
  id: string;
  custom_id: string;
  response: BatchResponse;
  error: null;
}

/** One line of the errors file: a request (or an input line) that did not succeed. */
export interface BatchErrorLine {
  id: string;
  /** `null` when the input line had no readable `custom_id`. */
  custom_id: string | null;
  /** The upstream's answer when there was one (a 400, the last 5xx), else `null`. */
  response: BatchResponse | null;
  error: { code: string; message: string };
  /** 1-based line number in the input file. */
  line: number | null;
}

/** A fresh `batch_req_…` id (32 hex characters of randomness). */
export function batchRequestId(): string {
  return `batch_req_${randomBytes(16).toString('hex')}`;
}

export function outputLine(customId: string, response: BatchResponse): BatchOutputLine {
  return { id: batchRequestId(), custom_id: customId, response, error: null };
}

export function errorLine(
  customId: string | null,
  line: number | null,
  code: string,
  message: string,
  response: BatchResponse | null = null,
): BatchErrorLine {
  return { id: batchRequestId(), custom_id: customId, response, error: { code, message }, line };
}
