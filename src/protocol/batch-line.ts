/**
 * Reading one OpenAI Batch API input line (`{"custom_id","method","url","body"}`): what `sluice batch`
 * reads from a file and `sluice worker` from a queue. Two stages, so a reader can check the `custom_id`
 * (duplicates in a file) between them: {@link readBatchId} parses the line and reads its id,
 * {@link checkBatchFields} checks the rest. Messages say what is wrong and how a good line looks; the
 * caller adds where the line came from (`line 7: …`).
 */
import { kindOfPath, type RequestKind } from '../engine/cost.js';

/** A valid Batch request, ready to send. */
export interface BatchLineRequest {
  customId: string;
  /** The `url` of the line, as written (`/v1/chat/completions`). */
  url: string;
  kind: RequestKind;
  body: Record<string, unknown>;
}

/** Why a line cannot run (a subset of the errors-file codes of docs/batch.md). */
export type BatchLineCode =
  'invalid_json' | 'invalid_line' | 'missing_custom_id' | 'unsupported_method' | 'unsupported_url';

export interface BatchLineProblem {
  ok: false;
  code: BatchLineCode;
  message: string;
  /** The line's `custom_id` when it had a readable one. */
  customId: string | null;
}

/** Endpoints a Batch line may name. */
export const SUPPORTED_KINDS: ReadonlySet<RequestKind> = new Set([
  'chat',
  'completions',
  'embeddings',
  'responses',
]);
const SUPPORTED_URLS = '/v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses';
const SHAPE = '{"custom_id":…,"method":"POST","url":…,"body":{…}}';

const problem = (code: BatchLineCode, message: string, customId: string | null = null): BatchLineProblem => ({
  ok: false,
  code,
  message,
  customId,
});

/** Parses a line and reads its `custom_id`. */
export function readBatchId(
  text: string,
): { ok: true; record: Record<string, unknown>; customId: string } | BatchLineProblem {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return problem(
      'invalid_json',
      `not JSON (${(err as Error).message}). Each line must be one JSON object: ${SHAPE}.`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return problem('invalid_line', `expected a JSON object like ${SHAPE}, got ${describeJson(value)}.`);
  }
  const record = value as Record<string, unknown>;
  const id = record['custom_id'];
  if (id === undefined || id === null || id === '') {
    return problem('missing_custom_id', 'no "custom_id". Give every line a unique "custom_id" string.');
  }
  if (typeof id !== 'string') {
    return problem('invalid_line', `"custom_id" must be a string, got ${describeJson(id)}.`);
  }
  return { ok: true, record, customId: id };
}

/** Checks the method, url and body of a line whose id {@link readBatchId} read. */
export function checkBatchFields(
  record: Record<string, unknown>,
  customId: string,
): { ok: true; request: BatchLineRequest } | BatchLineProblem {
  const method = record['method'];
  if (typeof method !== 'string' || method.toUpperCase() !== 'POST') {
    return problem('unsupported_method', `"method" must be "POST", got ${describeJson(method)}.`, customId);
  }
  const url = record['url'];
  const kind = typeof url === 'string' && url.startsWith('/') ? kindOfPath(url) : 'other';
  if (typeof url !== 'string' || !SUPPORTED_KINDS.has(kind)) {
    return problem('unsupported_url', `"url" must be ${SUPPORTED_URLS}, got ${describeJson(url)}.`, customId);
  }
  const body = record['body'];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return problem(
      'invalid_line',
      `"body" must be a JSON object (the request body), got ${describeJson(body)}.`,
      customId,
    );
  }
  if ((body as Record<string, unknown>)['stream'] === true) {
    return problem(
      'invalid_line',
      '"body.stream" is true, but a Batch request is answered whole. Remove "stream" from the body.',
      customId,
    );
  }
  return { ok: true, request: { customId, url, kind, body: body as Record<string, unknown> } };
}

/** Both stages at once, for a reader that sees lines one by one (a queue's messages). */
export function checkBatchLine(text: string): { ok: true; request: BatchLineRequest } | BatchLineProblem {
  const read = readBatchId(text);
  return read.ok ? checkBatchFields(read.record, read.customId) : read;
}

function describeJson(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * Joins a line's `url` to the base URL the way the SDKs do: the SDK's base URL ends in `/v1` and its
 * paths do not repeat it, so a leading `/v1` of the line's url is dropped
 * (`http://h:p/v1` + `/v1/chat/completions` → `http://h:p/v1/chat/completions`).
 */
export function joinUrl(baseUrl: string, url: string): string {
  const base = baseUrl.replace(/\/+$/, '');
  const path = url.startsWith('/v1/') ? url.slice(3) : url;
  return `${base}${path}`;
}
