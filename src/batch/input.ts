/**
 * Reading a Batch input file: line by line, never the whole file. The reader pulls one chunk at a time
 * from the file only when the consumer asks for the next line, so a slow consumer (a run waiting on the
 * rate limits) holds at most one chunk in memory, whatever the file's size.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { RequestKind } from '../engine/cost.js';
import { checkBatchFields, readBatchId } from '../protocol/batch-line.js';
import type { BatchErrorCode } from './codes.js';
import { IdRegistry } from './ids.js';

export { IdRegistry } from './ids.js';
export { joinUrl, SUPPORTED_KINDS } from '../protocol/batch-line.js';

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
    const read = readBatchId(raw.text);
    if (!read.ok) return bad(read.code, read.message, read.customId);
    const id = read.customId;
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
    const checked = checkBatchFields(read.record, id);
    if (!checked.ok) return bad(checked.code, checked.message, checked.customId);
    return { ok: true, request: { line, ...checked.request }, finished: seen.finished };
  }
}
