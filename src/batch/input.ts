/**
 * Reading a Batch input file: line by line, never the whole file. The reader pulls one chunk at a time
 * from the file only when the consumer asks for the next line, so a slow consumer (a run waiting on the
 * rate limits) holds at most one chunk in memory, whatever the file's size.
 */
import { createReadStream } from 'node:fs';
import { kindOfPath, type RequestKind } from '../engine/cost.js';
import type { BatchErrorCode } from './codes.js';

/** One non-blank line and its 1-based number in the file (blank lines count towards numbering). */
export interface RawLine {
  line: number;
  text: string;
}

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

/**
 * Yields the file's non-blank lines in order. Handles `\n` and `\r\n`, a UTF-8 byte-order mark, a last
 * line without a newline and lines longer than a chunk.
 */
export async function* readLines(path: string): AsyncGenerator<RawLine> {
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  let carry: Buffer[] = [];
  let line = 0;
  let first = true;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let start = 0;
      if (first) {
        first = false;
        if (chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) start = 3;
      }
      for (;;) {
        const end = chunk.indexOf(NEWLINE, start);
        if (end === -1) {
          if (start < chunk.length) carry.push(chunk.subarray(start));
          break;
        }
        line++;
        let text: string;
        if (carry.length > 0) {
          carry.push(chunk.subarray(start, end));
          text = Buffer.concat(carry).toString('utf8');
          carry = [];
        } else {
          text = chunk.toString('utf8', start, end);
        }
        start = end + 1;
        const trimmed = trimLine(text);
        if (trimmed !== undefined) yield { line, text: trimmed };
      }
    }
    if (carry.length > 0) {
      line++;
      const trimmed = trimLine(Buffer.concat(carry).toString('utf8'));
      if (trimmed !== undefined) yield { line, text: trimmed };
    }
  } finally {
    stream.destroy();
  }
}

/** The line without a trailing `\r`; `undefined` when it is blank. */
function trimLine(text: string): string | undefined {
  const body = text.endsWith('\r') ? text.slice(0, -1) : text;
  return body.trim() === '' ? undefined : body;
}

/**
 * Counts the file's non-blank lines without decoding them (a fast first pass for the progress total:
 * about a second per gigabyte).
 */
export async function countLines(path: string, signal?: AbortSignal): Promise<number> {
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  let count = 0;
  // Whether the current line has seen a byte other than space, tab or CR.
  let content = false;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (signal?.aborted) break;
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(NEWLINE, start);
        const stop = end === -1 ? chunk.length : end;
        if (!content) content = hasContent(chunk, start, stop);
        if (end === -1) break;
        if (content) count++;
        content = false;
        start = end + 1;
      }
    }
    if (content) count++;
  } finally {
    stream.destroy();
  }
  return count;
}

function hasContent(chunk: Buffer, start: number, stop: number): boolean {
  for (let i = start; i < stop; i++) {
    const c = chunk[i];
    // A UTF-8 byte-order mark alone does not make a line.
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0xef && c !== 0xbb && c !== 0xbf) return true;
  }
  return false;
}

/** A valid input line, ready to send. */
export interface BatchRequest {
  line: number;
  customId: string;
  /** The `url` of the line, as written (`/v1/chat/completions`). */
  url: string;
  kind: RequestKind;
  body: Record<string, unknown>;
}

/** An input line that cannot run, and why. */
export interface BadLine {
  line: number;
  customId: string | null;
  code: BatchErrorCode;
  message: string;
}

export type CheckedLine =
  /** `finished`: an earlier run finished this line (`--resume` skips it). */
  { ok: true; request: BatchRequest; finished: boolean } | { ok: false; bad: BadLine };

/** Endpoints a Batch line may name. */
export const SUPPORTED_KINDS: ReadonlySet<RequestKind> = new Set([
  'chat',
  'completions',
  'embeddings',
  'responses',
]);
const SUPPORTED_URLS = '/v1/chat/completions, /v1/completions, /v1/embeddings or /v1/responses';

/**
 * The `custom_id`s a run knows: those an earlier run finished (read by `--resume`) and those seen on the
 * lines of the input so far. One map holds both, so each id is in memory once (about 100 bytes each:
 * a 1,000,000-line resume stays well under 200 MB).
 */
export class IdRegistry {
  // 0: finished earlier, not yet seen in the input; n > 0: first seen on line n;
  // n < 0: finished earlier and first seen on line −n.
  readonly #ids = new Map<string, number>();
  #finished = 0;

  /** Whether an earlier run finished `id`. */
  has(id: string): boolean {
    const v = this.#ids.get(id);
    return v !== undefined && v <= 0;
  }

  /** Marks `id` finished by an earlier run (before the input is read). */
  add(id: string): void {
    const v = this.#ids.get(id);
    if (v === undefined) this.#ids.set(id, 0);
    else if (v > 0) this.#ids.set(id, -v);
    else return;
    this.#finished++;
  }

  /** How many ids earlier runs finished. */
  get size(): number {
    return this.#finished;
  }

  /** The finished ids (tests, small files). */
  *finished(): IterableIterator<string> {
    for (const [id, v] of this.#ids) if (v <= 0) yield id;
  }

  /**
   * Records that `id` is on `line`. Returns the line it was first seen on when this is a repeat, and
   * whether an earlier run finished it.
   */
  see(id: string, line: number): { firstLine: number | undefined; finished: boolean } {
    const v = this.#ids.get(id);
    if (v === undefined) {
      this.#ids.set(id, line);
      return { firstLine: undefined, finished: false };
    }
    if (v === 0) {
      this.#ids.set(id, -line);
      return { firstLine: undefined, finished: true };
    }
    return { firstLine: Math.abs(v), finished: v < 0 };
  }
}

/**
 * Checks input lines one by one. Ids go into an {@link IdRegistry} (shared with the resume state, which
 * says which lines an earlier run finished).
 */
export class LineChecker {
  readonly #ids: IdRegistry;

  constructor(ids: IdRegistry = new IdRegistry()) {
    this.#ids = ids;
  }

  check(raw: RawLine): CheckedLine {
    const { line } = raw;
    const bad = (code: BatchErrorCode, message: string, customId: string | null = null): CheckedLine => ({
      ok: false,
      bad: { line, customId, code, message: `line ${line}: ${message}` },
    });
    let value: unknown;
    try {
      value = JSON.parse(raw.text);
    } catch (err) {
      return bad(
        'invalid_json',
        `not JSON (${(err as Error).message}). Each line must be one JSON object: {"custom_id":…,"method":"POST","url":…,"body":{…}}.`,
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return bad(
        'invalid_line',
        `expected a JSON object like {"custom_id":…,"method":"POST","url":…,"body":{…}}, got ${describeJson(value)}.`,
      );
    }
    const record = value as Record<string, unknown>;
    const id = record['custom_id'];
    if (id === undefined || id === null || id === '') {
      return bad('missing_custom_id', 'no "custom_id". Give every line a unique "custom_id" string.');
    }
    if (typeof id !== 'string') {
      return bad('invalid_line', `"custom_id" must be a string, got ${describeJson(id)}.`);
    }
    const seen = this.#ids.see(id, line);
    if (seen.firstLine !== undefined) {
      return bad(
        'duplicate_custom_id',
        `duplicate custom_id ${JSON.stringify(id)} (first used on line ${seen.firstLine}); only the first line runs. Give every line its own custom_id.`,
        id,
      );
    }
    const method = record['method'];
    if (typeof method !== 'string' || method.toUpperCase() !== 'POST') {
      return bad('unsupported_method', `"method" must be "POST", got ${describeJson(method)}.`, id);
    }
    const url = record['url'];
    const kind = typeof url === 'string' && url.startsWith('/') ? kindOfPath(url) : 'other';
    if (typeof url !== 'string' || !SUPPORTED_KINDS.has(kind)) {
      return bad('unsupported_url', `"url" must be ${SUPPORTED_URLS}, got ${describeJson(url)}.`, id);
    }
    const body = record['body'];
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return bad(
        'invalid_line',
        `"body" must be a JSON object (the request body), got ${describeJson(body)}.`,
        id,
      );
    }
    if ((body as Record<string, unknown>)['stream'] === true) {
      return bad(
        'invalid_line',
        '"body.stream" is true, but a Batch request is answered whole. Remove "stream" from the body.',
        id,
      );
    }
    return {
      ok: true,
      request: { line, customId: id, url, kind, body: body as Record<string, unknown> },
      finished: seen.finished,
    };
  }
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
