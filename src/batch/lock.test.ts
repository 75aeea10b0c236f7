import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileLock, lockHolder } from './lock.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-lock-'));
let n = 0;
const target = () => join(dir, `out${n++}.jsonl`);

/** The pid of a process that has exited (so no process has it, for now). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
    encoding: 'utf8',
  });
  return Number(r.stdout);
}

describe('FileLock', () => {
  it('is exclusive: a second lock on the same file says who holds it; release frees it', () => {
    const path = target();
    const notes: string[] = [];
    const lock = FileLock.acquire(path, (m) => notes.push(m))!;
    expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8'))).toMatchObject({
      pid: process.pid,
      host: hostname(),
    });
    expect(() => FileLock.acquire(path, () => {})).toThrow(
      new RegExp(`in use by another sluice batch run: pid ${process.pid} on this host, started `),
    );
    expect(lockHolder(path)?.holder.pid).toBe(process.pid);
    lock.release();
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(lockHolder(path)).toBeUndefined();
    FileLock.acquire(path, () => {})!.release();
    expect(notes).toEqual([]);
  });

  it('replaces a stale lock (its process gone, or its pid reused by a later process), with a note', () => {
    for (const stale of [
      { pid: deadPid(), host: hostname(), startedAt: '2020-01-01T00:00:00.000Z' },
      { pid: process.pid, host: hostname(), startedAt: '2020-01-01T00:00:00.000Z', startTicks: '1' },
    ]) {
      const path = target();
      writeFileSync(`${path}.lock`, JSON.stringify(stale));
      expect(lockHolder(path)).toBeUndefined();
      const notes: string[] = [];
      const lock = FileLock.acquire(path, (m) => notes.push(m))!;
      expect(notes.join('')).toMatch(
        new RegExp(`Removed a stale lock .*: the run that held it \\(pid ${stale.pid}, started 2020`),
      );
      lock.release();
    }
  });

  it('leaves a lock from another host alone, and refuses one it cannot read', () => {
    const path = target();
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: 1, host: 'elsewhere', startedAt: 'T' }));
    expect(() => FileLock.acquire(path, () => {})).toThrow(
      /pid 1 on host elsewhere, started T .*remove .*\.lock/,
    );
    const other = target();
    writeFileSync(`${other}.lock`, 'garbage');
    expect(() => FileLock.acquire(other, () => {})).toThrow(/does not say who holds it/);
  });

  it('does not lock devices', () => {
    expect(FileLock.acquire('/dev/null', () => {})).toBeUndefined();
  });
});
