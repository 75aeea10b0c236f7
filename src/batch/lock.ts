/**
 * One run per output: a lock file beside each file a run writes (`results.jsonl.lock`), so a second run
 * on the same files refuses to start instead of sending everything twice. Devices and pipes
 * (`/dev/stdout`) are not locked.
 *
 * Node.js has no `flock`, so the lock is a file created atomically: its content (pid, host, start time)
 * is written to a private temporary file first and then hard-linked to the lock's name, which fails when
 * the lock exists — no one ever sees a half-written lock. The lock is removed when the run ends (and on
 * process exit). A lock left by a run that died (`kill -9`, a crash, a power cut) is recognised as stale
 * when its host is this one and its process is gone (or its pid now belongs to a process started at
 * another time), and is replaced with a note. A lock from another host cannot be checked and is left
 * alone: the message says how to remove it.
 */
import {
  closeSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { BatchSetupError, resolveMissing } from './files.js';

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the holder started. */
  startedAt: string;
  /** The holder's start time in kernel clock ticks since boot (Linux), to detect a reused pid. */
  startTicks?: string;
}

/** The lock file of `target`: beside the file it resolves to, so two spellings of one path share it. */
export function lockPathOf(target: string): string {
  return `${resolveMissing(target)}.lock`;
}

/** Devices, pipes and terminals (`/dev/stdout`) are not locked: nothing can be created beside them. */
function lockable(target: string): boolean {
  try {
    return statSync(target).isFile();
  } catch {
    return true;
  }
}

/** Whether `target` is locked by a live run, and by whom (without taking or changing anything). */
export function lockHolder(target: string): { path: string; holder: LockHolder } | undefined {
  if (!lockable(target)) return undefined;
  const path = lockPathOf(target);
  const holder = readHolder(path);
  if (holder === undefined) return undefined;
  return isAlive(holder) ? { path, holder } : undefined;
}

/** The message for a lock held by another run. */
export function heldMessage(target: string, path: string, holder: LockHolder | 'unreadable'): string {
  if (holder === 'unreadable') {
    return `${target} is locked by ${path}, which does not say who holds it. If no sluice batch is running on ${target}, remove ${path} and start again.`;
  }
  const here = holder.host === hostname();
  return `${target} is in use by another sluice batch run: pid ${holder.pid} on ${here ? 'this host' : `host ${holder.host}`}, started ${holder.startedAt} (lock ${path}). Two runs on one output would send every line twice: wait for that run to finish or stop it${here ? '' : `; if it is no longer running on ${holder.host}, remove ${path}`}.`;
}

/** Locks held by this process, released on exit whatever happens. */
const held = new Set<string>();
let exitHook = false;

/** A lock this run holds; `release()` removes it. */
export class FileLock {
  #released = false;

  private constructor(readonly path: string) {}

  /**
   * Takes the lock of `target`, replacing a stale one (with a note through `log`). Throws
   * {@link BatchSetupError} when a live run holds it. When the lock file cannot be created at all (a
   * read-only directory), warns and returns `undefined`: the run goes on unlocked.
   */
  static acquire(target: string, log: (message: string) => void): FileLock | undefined {
    if (!lockable(target)) return undefined;
    const path = lockPathOf(target);
    const ticks = startTicks(process.pid);
    const me: LockHolder = {
      pid: process.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
      ...(ticks === undefined ? {} : { startTicks: ticks }),
    };
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      const fd = openSync(tmp, 'wx');
      try {
        writeSync(fd, `${JSON.stringify(me)}\n`);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      rmSync(tmp, { force: true });
      log(
        `Could not create the lock ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); running without it. Do not start a second run on ${target} until this one ends.`,
      );
      return undefined;
    }
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, path);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          if (attempt >= 3) {
            throw new BatchSetupError(heldMessage(target, path, readHolder(path) ?? 'unreadable'));
          }
        }
        const text = readText(path);
        if (text === undefined) continue; // Removed meanwhile: try again.
        const holder = parseHolder(text);
        if (holder === undefined) throw new BatchSetupError(heldMessage(target, path, 'unreadable'));
        if (isAlive(holder)) throw new BatchSetupError(heldMessage(target, path, holder));
        // Stale. Remove it only if it is still the same stale lock (another starting run may have
        // replaced it in the meantime).
        if (readText(path) === text) {
          try {
            unlinkSync(path);
          } catch {
            // Gone already.
          }
          log(
            `Removed a stale lock ${path}: the run that held it (pid ${holder.pid}, started ${holder.startedAt}) is no longer running.`,
          );
        }
      }
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof BatchSetupError) throw err;
      log(
        `Could not create the lock ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); running without it. Do not start a second run on ${target} until this one ends.`,
      );
      return undefined;
    }
    rmSync(tmp, { force: true });
    held.add(path);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const p of held) rmSync(p, { force: true });
      });
    }
    return new FileLock(path);
  }

  /** Removes the lock (idempotent). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    held.delete(this.path);
    // Only our own lock: a lock file replaced behind our back (someone removed ours) is not touched.
    const holder = readHolder(this.path);
    if (holder?.pid === process.pid && holder.host === hostname()) rmSync(this.path, { force: true });
  }
}

function readText(path: string): string | undefined {
  try {
    if (!lstatSync(path).isFile()) return '';
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function readHolder(path: string): LockHolder | undefined {
  const text = readText(path);
  return text === undefined ? undefined : parseHolder(text);
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.startedAt === 'string'
    ) {
      return value as LockHolder;
    }
  } catch {
    // Not a lock we wrote.
  }
  return undefined;
}

/** Whether the holder may still be running (always true for another host: it cannot be checked). */
function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid exists; it may have been reused by an unrelated process since.
  if (holder.startTicks !== undefined) {
    const now = startTicks(holder.pid);
    if (now !== undefined && now !== holder.startTicks) return false;
  }
  return true;
}

/** A process's start time since boot in clock ticks (Linux `/proc/<pid>/stat`, field 22). */
function startTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}
