/**
 * The three files of a run — input, output, errors — checked before anything is sent or written: the
 * input must be readable, no two of them may be one file (under any name: the same path, a hard link, a
 * symlink), and an output that is not a regular file needs an explicit errors file.
 */
import { lstatSync, readlinkSync, realpathSync, statSync, type Stats } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** A problem found before anything was sent (exit 2). */
export class BatchSetupError extends Error {
  override readonly name = 'BatchSetupError';
}

export interface FileOptions {
  input: string;
  output?: string | undefined;
  /** As given; `undefined` means the default beside the output. */
  errors?: string | undefined;
  resume?: boolean | undefined;
}

export interface CheckedFiles {
  /** The errors file to use (the given one, or `<output>.errors.jsonl`). */
  errors: string | undefined;
  /** The input cannot be read twice (a pipe, `/dev/stdin`, `<(…)`): read it in one pass, total unknown. */
  inputIsStream: boolean;
}

/** The default errors file beside an output. */
export function defaultErrorsPath(output: string): string {
  return `${output}.errors.jsonl`;
}

/**
 * Checks the paths of a run — the input readable, no two files one, an errors file for a non-regular
 * output — and says which errors file to use. Throws {@link BatchSetupError} saying what to do. Whether
 * an earlier run would be overwritten is {@link checkFresh}'s question.
 */
export async function checkPaths(options: FileOptions): Promise<CheckedFiles> {
  let info: Stats;
  try {
    info = await stat(options.input);
    await access(options.input, constants.R_OK);
  } catch (err) {
    throw new BatchSetupError(
      `Cannot read the input file ${options.input}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}. Check the path.`,
    );
  }
  if (info.isDirectory()) {
    throw new BatchSetupError(`The input ${options.input} is a directory; give a JSONL file.`);
  }
  const inputIsStream = !info.isFile();
  if (options.output === undefined) return { errors: options.errors, inputIsStream };
  const output = options.output;

  const outputInfo = statOrUndefined(output);
  const special = outputInfo !== undefined && !outputInfo.isFile();
  if (options.errors === undefined && (special || /^\/(dev|proc)\//.test(resolve(output)))) {
    throw new BatchSetupError(
      `--output ${output} is ${special ? 'not a regular file (a terminal, a pipe or a device)' : 'in a device directory'}, so the errors file cannot go beside it as ${defaultErrorsPath(output)}. Name one with --errors <file>, e.g. --errors errors.jsonl.`,
    );
  }
  const errors = options.errors ?? defaultErrorsPath(output);

  const input = { flag: 'the input', path: options.input };
  const out = { flag: '--output', path: output };
  const err = { flag: options.errors === undefined ? 'the errors file' : '--errors', path: errors };
  for (const [a, b] of [
    [input, out],
    [input, err],
    [out, err],
  ] as const) {
    const same = sameFile(a.path, b.path);
    if (same === undefined) continue;
    const names = a.path === b.path ? `both are ${a.path}` : `${a.path} and ${b.path} ${same}`;
    const fix =
      a === input
        ? `Writing there would destroy the input. Choose another ${b.flag === 'the errors file' ? '--output' : b.flag}.`
        : `Results and failures must go to different files. ${options.errors === undefined ? 'Choose another --output.' : `Drop --errors (the default is ${defaultErrorsPath(output)}) or choose another file.`}`;
    throw new BatchSetupError(`${cap(a.flag)} and ${b.flag} are one file: ${names}. ${fix}`);
  }
  return { errors, inputIsStream };
}

/**
 * Without `--resume`, refuses an existing non-empty output or errors file (a run is never overwritten).
 */
export function checkFresh(output: string, errors: string): void {
  for (const path of [output, errors]) {
    const info = statOrUndefined(path);
    if (info?.isFile() && info.size > 0) {
      throw new BatchSetupError(
        `${path} already exists and is not empty. To continue that run, add --resume (finished lines are skipped); to start over, remove it (and ${path === output ? 'its errors file' : 'the output file'}) or choose another --output.`,
      );
    }
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * How two paths are one file, or `undefined` when they are not: the same device and inode for files that
 * exist (a hard link, a symlink, another spelling), the same resolved path for files that do not exist
 * yet. Devices, pipes and terminals (`/dev/null`, `/dev/stdout`) may be shared.
 */
export function sameFile(a: string, b: string): string | undefined {
  const sa = statOrUndefined(a);
  const sb = statOrUndefined(b);
  if (sa && sb) {
    if (!sa.isFile() || !sb.isFile()) return undefined;
    return sa.dev === sb.dev && sa.ino === sb.ino
      ? 'have the same device and inode (a link, or another name of one file)'
      : undefined;
  }
  if (sa || sb) return undefined;
  return resolveMissing(a) === resolveMissing(b)
    ? `resolve to the same path, ${resolveMissing(a)}`
    : undefined;
}

/** The absolute path a file that does not exist yet would be created at (following symlinks). */
export function resolveMissing(path: string, depth = 0): string {
  try {
    return realpathSync(path);
  } catch {
    // Missing (or a dangling symlink): resolve what exists.
  }
  if (depth < 20) {
    try {
      if (lstatSync(path).isSymbolicLink()) {
        return resolveMissing(resolve(dirname(path), readlinkSync(path)), depth + 1);
      }
    } catch {
      // Not there at all.
    }
  }
  const parent = dirname(resolve(path));
  if (parent === resolve(path)) return parent;
  return join(resolveMissing(parent, depth + 1), basename(path));
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
