/**
 * What an earlier run finished, read back from its output and errors files, so `--resume` never sends a
 * finished request again. Only files Sluice wrote are read this way: every line must have the shape of a
 * result line (output) or an errors-file line (errors), or the file is refused and left as it is.
 *
 * - Every `custom_id` in the output file succeeded: finished.
 * - An errors-file entry is finished or not by its code (`codes.ts`): bad-line entries are dropped and
 *   their lines checked again; `not_attempted`, `quota_exhausted` and `unauthorized` are dropped and
 *   sent again; the rest are kept as final failures, unless `retryFailed`.
 * - The errors file is rewritten without the dropped entries (a temporary file, then a rename), so the
 *   next results do not duplicate them.
 * - A torn last line (a line cut short by a crash while it was written: it starts like the lines Sluice
 *   writes) is removed; a last line that is whole but lacks its newline gets one.
 */
import { isRecord, parseJson } from '../formats/json.js';
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { resumeActionOf } from './codes.js';
import { BatchSetupError } from './files.js';
import { IdRegistry, readLines } from './input.js';
import { LineWriter, WriteError } from './output.js';
import type { Redactor } from './redact.js';

export interface ResumeOptions {
  /** Send failed lines again (every code but the bad-line ones, which are checked again anyway). */
  retryFailed: boolean;
  /** Change nothing on disk (`--dry-run`): no repair, no rewrite of the errors file. @default false */
  readOnly?: boolean;
  /** Applied to the errors-file lines that are written back. @default none */
  redactor?: Redactor;
}

export interface ResumeState {
  /** `custom_id`s that are finished (succeeded, or failed and kept as failed); hand it to the `LineChecker`. */
  finished: IdRegistry;
  /** The `custom_id`s among them that failed (kept as final failures in the errors file). */
  failedIds: IdRegistry;
  /** Lines in the output file. */
  succeeded: number;
  /** Errors-file entries kept as final failures. */
  failed: number;
  /** Errors-file entries dropped so their lines run again. */
  rerun: number;
  /** Things to tell the user (a repaired file, an unreadable line). */
  notes: string[];
}

/**
 * Reads what earlier runs finished. Both files are checked whole before anything on disk changes: a file
 * with a line that is not one Sluice writes (an input line, a result line in the errors file, text) is
 * refused with a {@link BatchSetupError} naming the file and the line, and left untouched.
 */
export async function loadResumeState(
  outputPath: string,
  errorsPath: string,
  options: ResumeOptions,
): Promise<ResumeState> {
  const state: ResumeState = {
    finished: new IdRegistry(),
    failedIds: new IdRegistry(),
    succeeded: 0,
    failed: 0,
    rerun: 0,
    notes: [],
  };
  const readOnly = options.readOnly === true;

  let outputTail: Tail | undefined;
  if (exists(outputPath)) {
    outputTail = inspectTail(outputPath);
    const foreign = new ForeignLine(outputPath, outputTail);
    for await (const { line, text } of readLines(outputPath)) {
      const id = resultLineId(text);
      if (id === undefined) {
        foreign.saw(line, text);
        continue;
      }
      foreign.ok(line);
      if (!state.finished.has(id)) state.succeeded++;
      state.finished.add(id);
    }
    foreign.check('output');
  }

  let errorsTail: Tail | undefined;
  let rewrite = false;
  const tmp = `${errorsPath}.resume-tmp`;
  if (exists(errorsPath)) {
    errorsTail = inspectTail(errorsPath);
    const foreign = new ForeignLine(errorsPath, errorsTail);
    const kept = readOnly ? undefined : new LineWriter(tmp, options.redactor);
    let dropped = 0;
    try {
      for await (const { line, text } of readLines(errorsPath)) {
        const entry = parseErrorEntry(text);
        if (!entry) {
          foreign.saw(line, text);
          continue;
        }
        foreign.ok(line);
        const action = resumeActionOf(entry.code);
        const id = entry.customId;
        if (action === 'revalidate' || id === null) {
          dropped++;
          continue;
        }
        if (state.finished.has(id)) {
          // Already succeeded (or already kept as failed): this entry is stale.
          dropped++;
          continue;
        }
        if (action === 'rerun' || options.retryFailed) {
          dropped++;
          state.rerun++;
          continue;
        }
        kept?.writeRaw(text);
        state.finished.add(id);
        state.failedIds.add(id);
        state.failed++;
      }
      foreign.check('errors');
    } catch (err) {
      kept?.close();
      rmSync(tmp, { force: true });
      if (err instanceof WriteError) {
        throw new BatchSetupError(`${err.message} (while rewriting the errors file for --resume)`);
      }
      throw err;
    }
    kept?.close();
    rewrite = kept !== undefined && (dropped > 0 || errorsTail.state === 'torn');
    if (kept && !rewrite) rmSync(tmp, { force: true });
  }

  // Both files are what they should be: now repair and rewrite.
  if (!readOnly) {
    if (outputTail) {
      const note = repairTail(outputPath);
      if (note) state.notes.push(note);
    }
    if (rewrite) {
      if (errorsTail?.state === 'torn') state.notes.push(tornNote(errorsPath));
      renameSync(tmp, errorsPath);
    } else if (errorsTail) {
      const note = repairTail(errorsPath);
      if (note) state.notes.push(note);
    }
  }
  return state;
}

/**
 * Collects a line that is not one Sluice writes; tolerates only a torn last line (a write cut short),
 * and refuses anything else with the file and line named.
 */
class ForeignLine {
  #first: { line: number; text: string } | undefined;
  #last = 0;

  constructor(
    readonly path: string,
    readonly tail: Tail,
  ) {}

  saw(line: number, text: string): void {
    this.#first ??= { line, text };
    this.#last = line;
  }

  ok(line: number): void {
    this.#last = line;
  }

  check(kind: 'output' | 'errors'): void {
    const bad = this.#first;
    if (!bad) return;
    // A torn last line is what a crash leaves; it is removed and its request runs again.
    if (bad.line === this.#last && this.tail.state === 'torn') return;
    const what = describeForeign(bad.text);
    throw new BatchSetupError(
      kind === 'output'
        ? `${this.path} line ${bad.line} is not a result line of sluice batch (${what}), so ${this.path} is not the output of an earlier run: resuming would skip every custom_id it names and append to it. Check --output (is it the input file, or another file?); to start over, choose a new --output. Nothing was changed.`
        : `${this.path} line ${bad.line} is not an errors-file line of sluice batch (${what}), so ${this.path} is not an errors file, and --resume rewrites the errors file. Check --errors (is it the input or the output file?). Nothing was changed.`,
    );
  }
}

/** Why a line is not one of ours, in a few words. */
function describeForeign(text: string): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const record = value as Record<string, unknown>;
  if ('method' in record || 'body' in record) return 'it looks like an input line: it has "method" or "body"';
  if (record['error'] === null && typeof record['response'] === 'object') {
    return 'it looks like a result line: "error" is null';
  }
  if (typeof record['error'] === 'object' && record['error'] !== null) {
    return 'it looks like an errors-file line';
  }
  return 'it has no "custom_id" with a "response" or an "error.code"';
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const OUTPUT_PREFIX = /^\{"id":"[^"\\]*","custom_id":("(?:[^"\\]|\\.)*")/;
const RESULT_PREFIX = /^\{"id":"[^"\\]*","custom_id":("(?:[^"\\]|\\.)*"),"response":\{"status_code":\d/;

/** The `custom_id` of an output line; a fast path for the lines Sluice writes, JSON.parse otherwise. */
export function outputCustomId(text: string): string | undefined {
  const match = OUTPUT_PREFIX.exec(text);
  if (match?.[1] !== undefined && text.endsWith('}')) {
    try {
      return JSON.parse(match[1]) as string;
    } catch {
      // Fall through to the full parse.
    }
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null) {
      const id = (value as Record<string, unknown>)['custom_id'];
      if (typeof id === 'string') return id;
    }
  } catch {
    // Not JSON.
  }
  return undefined;
}

/**
 * The `custom_id` of a result line (the Batch output shape: a `custom_id` string and a `response` with a
 * numeric `status_code`), or `undefined` for any other line. A fast path for the lines Sluice writes.
 */
export function resultLineId(text: string): string | undefined {
  const match = RESULT_PREFIX.exec(text);
  if (match?.[1] !== undefined && text.endsWith('}')) {
    try {
      return JSON.parse(match[1]) as string;
    } catch {
      // Fall through to the full parse.
    }
  }
  const record = parseJson(text);
  if (!isRecord(record)) return undefined;
  const id = record['custom_id'];
  const response = record['response'] as { status_code?: unknown } | null | undefined;
  if (typeof id !== 'string' || typeof response !== 'object' || response === null) return undefined;
  return typeof response.status_code === 'number' ? id : undefined;
}

/** An errors-file entry (`error.code` a string; `custom_id` a string or null), or `undefined`. */
function parseErrorEntry(text: string): { customId: string | null; code: string } | undefined {
  const record = parseJson(text);
  if (!isRecord(record)) return undefined;
  const error = record['error'];
  const code =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : undefined;
  if (typeof code !== 'string') return undefined;
  const id = record['custom_id'];
  if (id !== null && id !== undefined && typeof id !== 'string') return undefined;
  return { customId: typeof id === 'string' ? id : null, code };
}

/** How a file ends: with a newline, with a whole line lacking it, or with a torn line Sluice was writing. */
interface Tail {
  state: 'whole' | 'no_newline' | 'torn' | 'foreign';
  /** Where the last line starts. */
  start: number;
}

/** Reads how `path` ends, changing nothing. */
function inspectTail(path: string): Tail {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return { state: 'whole', start: 0 };
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return { state: 'whole', start: size };
    // Find the last newline, reading backwards.
    const block = Buffer.alloc(64 * 1024);
    let end = size;
    let newline = -1;
    while (end > 0 && newline === -1) {
      const start = Math.max(0, end - block.length);
      const n = readSync(fd, block, 0, end - start, start);
      const at = block.subarray(0, n).lastIndexOf(0x0a);
      if (at !== -1) newline = start + at;
      end = start;
    }
    const start = newline + 1;
    const tail = Buffer.alloc(size - start);
    readSync(fd, tail, 0, tail.length, start);
    const text = tail.toString('utf8');
    if (isWholeLine(text)) return { state: 'no_newline', start };
    return { state: looksLikeOurs(text) ? 'torn' : 'foreign', start };
  } finally {
    closeSync(fd);
  }
}

/** Every line Sluice writes starts like this; a torn one starts with a piece of it. */
const LINE_START = '{"id":"batch_req_';

function looksLikeOurs(text: string): boolean {
  const t = text.trimStart();
  return t.length > 0 && (t.startsWith(LINE_START) || LINE_START.startsWith(t));
}

function tornNote(path: string): string {
  return `${path}: its last line was cut short (the run was stopped while writing it); removed it. That request runs again.`;
}

/**
 * Makes sure the file ends with a whole line: a torn last line that Sluice was writing is removed, a
 * whole one gets its newline. A last line that is neither is left alone. Returns a note when it removed
 * something.
 */
export function repairTail(path: string): string | undefined {
  const tail = inspectTail(path);
  if (tail.state === 'whole' || tail.state === 'foreign') return undefined;
  const fd = openSync(path, 'r+');
  try {
    if (tail.state === 'no_newline') {
      writeSync(fd, '\n', fstatSync(fd).size);
      return undefined;
    }
    ftruncateSync(fd, tail.start);
    return tornNote(path);
  } finally {
    closeSync(fd);
  }
}

function isWholeLine(text: string): boolean {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && 'custom_id' in value;
  } catch {
    return false;
  }
}
