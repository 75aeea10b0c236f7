/**
 * Appending result lines so a crash never leaves half a result: each line goes to the kernel in one
 * `write` on a file opened for appending, before the run moves on. `kill -9` can then lose only the
 * requests still in flight; a torn last line (a full disk, a power cut) is repaired by `--resume`.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** Bytes of buffered lines written at once by {@link LineWriter.writeBuffered}. */
const BUFFER_BYTES = 64 * 1024;

export class LineWriter {
  #fd: number | undefined;
  #lines = 0;
  #buffer: string[] = [];
  #buffered = 0;

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
    this.#write(`${text}\n`);
    this.#lines++;
  }

  /**
   * Queues a line and writes queued lines 64 KB at a time, still whole lines per write. For lines whose
   * loss in a crash costs nothing (`not_attempted`, bad lines: a resume finds them again).
   */
  writeBuffered(value: unknown): void {
    const text = `${JSON.stringify(value)}\n`;
    this.#buffer.push(text);
    this.#buffered += text.length;
    this.#lines++;
    if (this.#buffered >= BUFFER_BYTES) this.flush();
  }

  /** Writes the queued lines. */
  flush(): void {
    if (this.#buffer.length === 0) return;
    const text = this.#buffer.join('');
    this.#buffer = [];
    this.#buffered = 0;
    this.#write(text);
  }

  #write(text: string): void {
    if (this.#fd === undefined) throw new Error(`${this.path} is already closed.`);
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    // One write in practice; a short write (rare, e.g. a signal) continues where it stopped.
    while (offset < bytes.length) offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
  }

  /** Flushes to disk and closes. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    this.flush();
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
