/**
 * Reading a Batch input file: line by line, never the whole file. The reader pulls one chunk at a time
 * from the file only when the consumer asks for the next line, so a slow consumer (a run waiting on the
 * rate limits) holds at most one chunk in memory, whatever the file's size.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { kindOfPath, type RequestKind } from '../engine/cost.js';
import type { BatchErrorCode } from './codes.js';
import { IdRegistry } from './ids.js';

export { IdRegistry } from './ids.js';

/**
 * One non-blank line and its 1-based number in the file (blank lines count towards numbering). A line is
 * blank when it holds only whitespace as JavaScript's `trim()` knows it — spaces, tabs, `\r`, form
 * feeds, no-break spaces, byte-order marks and the other Unicode spaces; {@link countLines} counts by
 * the same rule, so the total matches what is read.
 */
export interface RawLine {
  line: number;
  text: string;
}

const NEWLINE = 0x0a;
const CHUNK_BYTES = 256 * 1024;

/**
 * Yields the file's non-blank lines in order. Handles `\n` and `\r\n`, a UTF-8 byte-order mark, a last
 * line without a newline and lines longer than a chunk. Reads the file once, front to back, so a pipe
 * works too. When the consumer stops early, the file is closed before the loop's `break` completes.
 */
export async function* readLines(path: string): AsyncGenerator<RawLine> {
  const stream = openInput(path, CHUNK_BYTES);
  const closed = closedPromise(stream);
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
    await closed;
  }
}

/** Names of this process's standard input. */
const STDIN = new Set(['/dev/stdin', '/dev/fd/0', '/proc/self/fd/0']);

/**
 * Opens a file for reading. Standard input (`/dev/stdin`) is read from the process's own descriptor: it
 * may be a socket (a parent process's pipe), which cannot be opened again by name.
 */
function openInput(path: string, highWaterMark: number): Readable {
  if (STDIN.has(path)) return process.stdin;
  return createReadStream(path, { highWaterMark });
}

/** Resolves when the stream has closed its file (after `destroy()`, or at its end). */
function closedPromise(stream: Readable): Promise<void> {
  return new Promise<void>((resolve) => {
    stream.once('close', () => resolve());
    // An open that fails closes nothing; the error reaches the reader through iteration.
    stream.once('error', () => resolve());
  });
}

/** The line without a trailing `\r`; `undefined` when it is blank. */
function trimLine(text: string): string | undefined {
  const body = text.endsWith('\r') ? text.slice(0, -1) : text;
  return body.trim() === '' ? undefined : body;
}

/**
 * Counts the file's non-blank lines without decoding them (a fast first pass for the progress total:
 * about a second per gigabyte), by the same rule as {@link readLines}: a line with a visible ASCII byte
 * is a line; one with nothing but whitespace bytes is blank; only a line of whitespace and non-ASCII
 * bytes alone (a no-break space, a byte-order mark) is decoded to tell. Only for regular files: a pipe
 * read here would be consumed.
 */
export async function countLines(path: string, signal?: AbortSignal): Promise<number> {
  const stream = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const closed = closedPromise(stream);
  let count = 0;
  const line = new LineScan();
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (signal?.aborted) break;
      let start = 0;
      for (;;) {
        const end = chunk.indexOf(NEWLINE, start);
        const stop = end === -1 ? chunk.length : end;
        line.scan(chunk, start, stop);
        if (end === -1) break;
        if (line.end()) count++;
        start = end + 1;
      }
    }
    if (line.end()) count++;
  } finally {
    stream.destroy();
    await closed;
  }
  return count;
}

/** ASCII bytes that `trim()` removes: tab, line feed, vertical tab, form feed, carriage return, space. */
function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** Whether the line being scanned (in pieces) has content. */
class LineScan {
  #content = false;
  /** Pieces of a line with non-ASCII bytes and no visible ASCII byte yet (decoded at its end). */
  #unsure: Buffer[] = [];

  scan(chunk: Buffer, start: number, stop: number): void {
    if (this.#content) return;
    let nonAscii = false;
    for (let i = start; i < stop; i++) {
      const c = chunk[i]!;
      if (c >= 0x80) nonAscii = true;
      else if (!isAsciiSpace(c)) {
        this.#content = true;
        this.#unsure = [];
        return;
      }
    }
    if (nonAscii || this.#unsure.length > 0) this.#unsure.push(Buffer.from(chunk.subarray(start, stop)));
  }

  /** Ends the line: whether it had content. */
  end(): boolean {
    const content =
      this.#content ||
      (this.#unsure.length > 0 && Buffer.concat(this.#unsure).toString('utf8').trim() !== '');
    this.#content = false;
    this.#unsure = [];
    return content;
  }
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
 * Checks input lines one by one. Ids go into an {@link IdRegistry} (shared with the resume state, which
 * says which lines an earlier run finished).
 */
export class LineChecker {
  readonly #ids: IdRegistry;

  constructor(ids: IdRegistry = new IdRegistry()) {
    this.#ids = ids;
  }

  /** Makes room for this many distinct ids (the input's line count). */
  reserve(lines: number): void {
    this.#ids.reserve(lines);
  }

  check(raw: RawLine): CheckedLine {
    const result = this.#check(raw);
    // The first line of an id was bad: its repeats must not say that it runs.
    if (!result.ok && result.bad.code !== 'duplicate_custom_id' && result.bad.customId !== null) {
      if (this.#firstSeen === result.bad.customId) this.#badFirst.set(result.bad.customId, raw.line);
    }
    this.#firstSeen = undefined;
    return result;
  }

  /** Ids whose first line was bad, and that line (bad lines are few). */
  readonly #badFirst = new Map<string, number>();
  /** The id the line being checked used first in the file, if it did. */
  #firstSeen: string | undefined;

  #check(raw: RawLine): CheckedLine {
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
      const firstBad = this.#badFirst.get(id);
      return bad(
        'duplicate_custom_id',
        firstBad === undefined
          ? `duplicate custom_id ${JSON.stringify(id)} (first used on line ${seen.firstLine}); only the first line runs. Give every line its own custom_id.`
          : `duplicate custom_id ${JSON.stringify(id)} (first used on line ${firstBad}, which is bad itself, so neither line runs). Fix line ${firstBad} or give every line its own custom_id.`,
        id,
      );
    }
    this.#firstSeen = id;
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
