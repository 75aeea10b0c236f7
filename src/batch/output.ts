/**
 * Appending result lines so a crash never leaves half a result: each line goes to the kernel in one
 * `write` on a file opened for appending, before the run moves on. `kill -9` can then lose only the
 * requests still in flight; a torn last line (a power cut) is repaired by `--resume`.
 *
 * A write that fails (a full disk, `EPIPE`, an I/O error) is taken back as far as the file allows (a
 * partly written line is truncated away) and leaves the writer broken: every later write throws the same
 * {@link WriteError}, so nothing is ever appended after a torn line.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { Redactor } from './redact.js';

/** A line could not be written. */
export class WriteError extends Error {
  override readonly name = 'WriteError';
  constructor(
    readonly path: string,
    readonly code: string,
    cause: unknown,
  ) {
    super(`Cannot write ${path}: ${describeWriteError(code, cause)}.`, { cause });
  }
}

function describeWriteError(code: string, cause: unknown): string {
  const plain: Record<string, string> = {
    ENOSPC: 'no space left on the device',
    EDQUOT: 'the disk quota is exceeded',
    EFBIG: 'the file is too large for the file system',
    EPIPE: 'the reader of the pipe went away',
    EIO: 'an I/O error',
    EROFS: 'the file system is read-only',
    EBADF: 'the file is not open for writing',
  };
  return plain[code] ? `${code} (${plain[code]})` : ((cause as Error)?.message ?? code);
}

/** Names of this process's standard output and error, written through their descriptors. */
const STANDARD: Record<string, number | undefined> = {
  '/dev/stdout': 1,
  '/dev/fd/1': 1,
  '/proc/self/fd/1': 1,
  '/dev/stderr': 2,
  '/dev/fd/2': 2,
  '/proc/self/fd/2': 2,
};

/** How long a write waits for a full non-blocking pipe to drain, in milliseconds. */
const PIPE_WAIT_MS = 60_000;
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** Bytes of buffered lines written at once by {@link LineWriter.writeBuffered}. */
const BUFFER_BYTES = 64 * 1024;

export class LineWriter {
  #fd: number | undefined;
  #lines = 0;
  #buffer: string[] = [];
  #buffered = 0;
  #broken: WriteError | undefined;
  #written = 0;
  /** Opened here (closed at the end), unlike standard output and standard error. */
  readonly #owned: boolean;
  readonly #redactor: Redactor | undefined;

  /**
   * Opens (creating if needed) `path` for appending. Throws the file system's error.
   * @param redactor applied to every line before it is written (keeps an API key out of the file).
   */
  constructor(
    readonly path: string,
    redactor?: Redactor,
  ) {
    const std = STANDARD[path];
    // A parent process's pipe may be a socket, which cannot be opened again by name: write to our own.
    this.#fd = std ?? openSync(path, 'a');
    this.#owned = std === undefined;
    this.#redactor = redactor;
  }

  /** The first write error, after which nothing more is written. */
  get broken(): WriteError | undefined {
    return this.#broken;
  }

  /** Lines handed to this writer. */
  get lines(): number {
    return this.#lines;
  }

  /** Lines this writer has written to the file (handed to the kernel). */
  get written(): number {
    return this.#written;
  }

  /** Appends one JSON value as one line. */
  write(value: unknown): void {
    this.#lines++;
    this.#write(`${this.#serialize(value)}\n`);
    this.#written++;
  }

  /** Appends a line of JSON text (which must not contain a newline) and its newline. */
  writeRaw(text: string): void {
    let line = text;
    if (this.#redactor?.suspect(text)) {
      try {
        line = JSON.stringify(this.#redactor.value(JSON.parse(text) as unknown));
      } catch {
        line = this.#redactor.text(text);
      }
    }
    this.#lines++;
    this.#write(`${line}\n`);
    this.#written++;
  }

  #serialize(value: unknown): string {
    const text = JSON.stringify(value);
    return this.#redactor?.suspect(text) ? JSON.stringify(this.#redactor.value(value)) : text;
  }

  /**
   * Queues a line and writes queued lines 64 KB at a time, still whole lines per write. For lines whose
   * loss in a crash costs nothing (`not_attempted`, bad lines: a resume finds them again).
   */
  writeBuffered(value: unknown): void {
    const text = `${this.#serialize(value)}\n`;
    this.#buffer.push(text);
    this.#buffered += text.length;
    this.#lines++;
    if (this.#buffered >= BUFFER_BYTES) this.flush();
  }

  /** Writes the queued lines. */
  flush(): void {
    if (this.#buffer.length === 0) return;
    const count = this.#buffer.length;
    const text = this.#buffer.join('');
    this.#buffer = [];
    this.#buffered = 0;
    this.#write(text);
    this.#written += count;
  }

  #write(text: string): void {
    if (this.#broken) throw this.#broken;
    if (this.#fd === undefined) throw new Error(`${this.path} is already closed.`);
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    let waited = 0;
    try {
      // One write in practice; a short write (rare, e.g. a signal) continues where it stopped.
      while (offset < bytes.length) {
        try {
          offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
        } catch (err) {
          // A non-blocking pipe that is full (standard output read by a slow consumer): wait for it.
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || waited >= PIPE_WAIT_MS) throw err;
          Atomics.wait(PAUSE, 0, 0, 1);
          waited++;
        }
      }
    } catch (err) {
      if (offset > 0) {
        // Take the torn part back, so the file still ends with a whole line.
        try {
          const size = fstatSync(this.#fd).size;
          ftruncateSync(this.#fd, Math.max(0, size - offset));
        } catch {
          // Not a regular file, or the truncation failed too: --resume repairs a torn last line.
        }
      }
      this.#broken = new WriteError(this.path, (err as NodeJS.ErrnoException).code ?? 'EIO', err);
      this.#buffer = [];
      this.#buffered = 0;
      throw this.#broken;
    }
  }

  /** Flushes to disk and closes. Idempotent. Throws a {@link WriteError} when the flush fails (the file is closed all the same). */
  close(): void {
    if (this.#fd === undefined) return;
    try {
      if (!this.#broken) this.flush();
    } catch (err) {
      if (this.#owned) closeSync(this.#fd);
      this.#fd = undefined;
      throw err;
    }
    const fd = this.#fd;
    this.#fd = undefined;
    if (!this.#owned) return;
    try {
      fsyncSync(fd);
    } catch {
      // Some file systems (pipes, /dev/null) cannot sync; the data is already written.
    }
    closeSync(fd);
  }
}
