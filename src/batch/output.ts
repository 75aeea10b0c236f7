/**
 * Appending result lines so a crash never leaves half a result: each line goes to the kernel in one
 * `write` on a file opened for appending, before the run moves on. `kill -9` can then lose only the
 * requests still in flight; a torn last line (a full disk, a power cut) is repaired by `--resume`.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export class LineWriter {
  #fd: number | undefined;
  #lines = 0;

  /** Opens (creating if needed) `path` for appending. Throws the file system's error. */
  constructor(readonly path: string) {
    this.#fd = openSync(path, 'a');
  }

  /** Lines written by this writer. */
  get lines(): number {
    return this.#lines;
  }

  /** Appends one JSON value as one line. */
  write(value: unknown): void {
    this.writeRaw(JSON.stringify(value));
  }

  /** Appends a line of text (which must not contain a newline) and its newline. */
  writeRaw(text: string): void {
    if (this.#fd === undefined) throw new Error(`${this.path} is already closed.`);
    const bytes = Buffer.from(`${text}\n`, 'utf8');
    let offset = 0;
    // One write in practice; a short write (rare, e.g. a signal) continues where it stopped.
    while (offset < bytes.length) offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
    this.#lines++;
  }

  /** Flushes to disk and closes. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      fsyncSync(fd);
    } catch {
      // Some file systems (pipes, /dev/null) cannot sync; the data is already written.
    }
    closeSync(fd);
  }
}
