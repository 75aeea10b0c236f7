/**
 * What an earlier run finished, read back from its output and errors files, so `--resume` never sends a
 * finished request again.
 *
 * - Every `custom_id` in the output file succeeded: finished.
 * - An errors-file entry is finished or not by its code (`codes.ts`): bad-line entries are dropped and
 *   their lines checked again; `not_attempted`, `quota_exhausted` and `unauthorized` are dropped and
 *   sent again; the rest are kept as final failures, unless `retryFailed`.
 * - The errors file is rewritten without the dropped entries (a temporary file, then a rename), so the
 *   next results do not duplicate them.
 * - A torn last line (a line cut short by a crash while it was written) is removed; a last line that is
 *   whole but lacks its newline gets one.
 */
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
import { IdRegistry, readLines } from './input.js';
import { LineWriter } from './output.js';
import { resumeActionOf } from './codes.js';

export interface ResumeOptions {
  /** Send failed lines again (every code but the bad-line ones, which are checked again anyway). */
  retryFailed: boolean;
  /** Change nothing on disk (`--dry-run`): no repair, no rewrite of the errors file. @default false */
  readOnly?: boolean;
}

export interface ResumeState {
  /** `custom_id`s that are finished (succeeded, or failed and kept as failed); hand it to the `LineChecker`. */
  finished: IdRegistry;
  /** Lines in the output file. */
  succeeded: number;
  /** Errors-file entries kept as final failures. */
  failed: number;
  /** Errors-file entries dropped so their lines run again. */
  rerun: number;
  /** Things to tell the user (a repaired file, an unreadable line). */
  notes: string[];
}

export async function loadResumeState(
  outputPath: string,
  errorsPath: string,
  options: ResumeOptions,
): Promise<ResumeState> {
  const state: ResumeState = { finished: new IdRegistry(), succeeded: 0, failed: 0, rerun: 0, notes: [] };

  const readOnly = options.readOnly === true;
  if (exists(outputPath)) {
    const repaired = readOnly ? undefined : repairTail(outputPath);
    if (repaired) state.notes.push(repaired);
    for await (const { line, text } of readLines(outputPath)) {
      const id = outputCustomId(text);
      if (id === undefined) {
        state.notes.push(
          `${outputPath} line ${line} is not a result line; ignored (its request, if any, runs again).`,
        );
        continue;
      }
      if (!state.finished.has(id)) state.succeeded++;
      state.finished.add(id);
    }
  }

  if (exists(errorsPath)) {
    const repaired = readOnly ? undefined : repairTail(errorsPath);
    if (repaired) state.notes.push(repaired);
    const tmp = `${errorsPath}.resume-tmp`;
    const kept = readOnly ? undefined : new LineWriter(tmp);
    let dropped = 0;
    try {
      for await (const { line, text } of readLines(errorsPath)) {
        const entry = parseErrorEntry(text);
        if (!entry) {
          state.notes.push(`${errorsPath} line ${line} is not an error line; dropped.`);
          dropped++;
          continue;
        }
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
        state.failed++;
      }
    } finally {
      kept?.close();
    }
    if (kept && dropped > 0) renameSync(tmp, errorsPath);
    else if (kept) rmSync(tmp, { force: true });
  }
  return state;
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

const OUTPUT_PREFIX = /^\{"id":"[^"\\]*","custom_id":("(?:[^"\\]|\\.)*")/;

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

function parseErrorEntry(text: string): { customId: string | null; code: string } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  const error = record['error'];
  const code =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : undefined;
  if (typeof code !== 'string') return undefined;
  const id = record['custom_id'];
  return { customId: typeof id === 'string' ? id : null, code };
}

/**
 * Makes sure the file ends with a whole line. Returns a note when it changed something.
 */
export function repairTail(path: string): string | undefined {
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return undefined;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return undefined;
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
    const tailStart = newline + 1;
    const tail = Buffer.alloc(size - tailStart);
    readSync(fd, tail, 0, tail.length, tailStart);
    if (isWholeLine(tail.toString('utf8'))) {
      writeSync(fd, '\n', size);
      return undefined;
    }
    ftruncateSync(fd, tailStart);
    return `${path}: its last line was cut short (the run was stopped while writing it); removed it. That request runs again.`;
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
