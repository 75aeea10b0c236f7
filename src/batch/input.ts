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
 * lines of the input so far. One table holds both, so each id is stored once.
 *
 * The ids live outside the JavaScript heap — their UTF-8 bytes in one growing buffer, an open-addressing
 * hash table and per-id fields in typed arrays, compared byte for byte on a hash match (exact, no
 * collision risk) — about 40 bytes per id. Kept as a million strings in a `Map` they would cost about
 * 100 bytes each and, worse, a large live heap lets the garbage collector grow the heap to several times
 * its size (a 1,000,000-line run peaked at 400 MB that way).
 */
export class IdRegistry {
  #arena = Buffer.allocUnsafe(64 * 1024);
  #arenaUsed = 0;
  #scratch = Buffer.allocUnsafe(256);
  #count = 0;
  #hashes = new Int32Array(1024);
  #offsets = new Int32Array(1024);
  #lengths = new Int32Array(1024);
  // 0: finished earlier, not yet seen in the input; n > 0: first seen on line n;
  // n < 0: finished earlier and first seen on line −n.
  #states = new Int32Array(1024);
  /** Entry index + 1 per slot, 0 when empty; kept at most half full. */
  #slots = new Int32Array(2048);
  #finished = 0;

  /**
   * Makes room for `ids` ids in one step (the line count, when known), so the table does not grow by
   * steps that briefly hold two copies.
   */
  reserve(ids: number): void {
    if (ids > this.#hashes.length) this.#growEntries(ids);
    let slots = this.#slots.length;
    while (slots < ids * 2) slots *= 2;
    if (slots > this.#slots.length) this.#rehash(slots);
  }

  /** Whether an earlier run finished `id`. */
  has(id: string): boolean {
    const e = this.#find(id);
    return e !== -1 && this.#states[e]! <= 0;
  }

  /** Marks `id` finished by an earlier run (before the input is read). */
  add(id: string): void {
    const e = this.#find(id, 0);
    if (!this.#inserted) {
      const v = this.#states[e]!;
      if (v <= 0) return;
      this.#states[e] = -v;
    }
    this.#finished++;
  }

  /** How many ids earlier runs finished. */
  get size(): number {
    return this.#finished;
  }

  /** The finished ids (tests, small files). */
  *finished(): IterableIterator<string> {
    for (let e = 0; e < this.#count; e++) {
      if (this.#states[e]! <= 0) {
        const offset = this.#offsets[e]!;
        yield this.#arena.toString('utf8', offset, offset + this.#lengths[e]!);
      }
    }
  }

  /**
   * Records that `id` is on `line`. Returns the line it was first seen on when this is a repeat, and
   * whether an earlier run finished it.
   */
  see(id: string, line: number): { firstLine: number | undefined; finished: boolean } {
    const e = this.#find(id, line);
    if (this.#inserted) return { firstLine: undefined, finished: false };
    const v = this.#states[e]!;
    if (v === 0) {
      this.#states[e] = -line;
      return { firstLine: undefined, finished: true };
    }
    return { firstLine: Math.abs(v), finished: v < 0 };
  }

  /** Whether the last `#find` added its id. */
  #inserted = false;

  /** The entry of `id`, or −1 when absent; with `insertState`, adds an absent id with that state. */
  #find(id: string, insertState?: number): number {
    this.#inserted = false;
    const length = Buffer.byteLength(id, 'utf8');
    if (length > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(length * 2);
    const bytes = this.#scratch;
    bytes.write(id, 0, length, 'utf8');
    // FNV-1a over the UTF-8 bytes.
    let hash = 0x811c9dc5 | 0;
    for (let i = 0; i < length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
    const mask = this.#slots.length - 1;
    let slot = hash & mask;
    for (;;) {
      const entry = this.#slots[slot]! - 1;
      if (entry === -1) break;
      if (this.#hashes[entry] === hash && this.#lengths[entry] === length) {
        const offset = this.#offsets[entry]!;
        if (bytes.compare(this.#arena, offset, offset + length, 0, length) === 0) return entry;
      }
      slot = (slot + 1) & mask;
    }
    if (insertState === undefined) return -1;

    if (this.#arenaUsed + length > 0x7fffffff) {
      throw new RangeError('More than 2 GB of custom_id text: split the file.');
    }
    if (this.#arenaUsed + length > this.#arena.length) {
      const size = Math.max(this.#arena.length * 1.5, this.#arenaUsed + length);
      const grown = Buffer.allocUnsafe(Math.min(0x7fffffff, Math.floor(size)));
      this.#arena.copy(grown, 0, 0, this.#arenaUsed);
      this.#arena = grown;
    }
    bytes.copy(this.#arena, this.#arenaUsed, 0, length);
    const entry = this.#count++;
    if (entry >= this.#hashes.length) this.#growEntries();
    this.#hashes[entry] = hash;
    this.#offsets[entry] = this.#arenaUsed;
    this.#lengths[entry] = length;
    this.#states[entry] = insertState;
    this.#arenaUsed += length;
    this.#slots[slot] = entry + 1;
    if (this.#count * 2 > this.#slots.length) this.#rehash();
    this.#inserted = true;
    return entry;
  }

  #growEntries(size = Math.ceil(this.#hashes.length * 1.5)): void {
    const grow = (old: Int32Array) => {
      const next = new Int32Array(size);
      next.set(old.subarray(0, this.#count));
      return next;
    };
    this.#hashes = grow(this.#hashes);
    this.#offsets = grow(this.#offsets);
    this.#lengths = grow(this.#lengths);
    this.#states = grow(this.#states);
  }

  #rehash(size = this.#slots.length * 2): void {
    const slots = new Int32Array(size);
    const mask = slots.length - 1;
    for (let entry = 0; entry < this.#count; entry++) {
      let slot = this.#hashes[entry]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = entry + 1;
    }
    this.#slots = slots;
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

  /** Makes room for this many distinct ids (the input's line count). */
  reserve(lines: number): void {
    this.#ids.reserve(lines);
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
