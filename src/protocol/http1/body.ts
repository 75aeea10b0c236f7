/**
 * A message body as it arrives (an answer's, for the client; a request's, for the server): a `Readable`
 * fed by the connection, which pauses the socket when the reader falls behind. `complete` turns true
 * once the last byte arrived, as on `node:http`'s `IncomingMessage`; destroying the body before that
 * tells the connection (the client's closes, which cancels the request).
 */
import { Readable } from 'node:stream';

export class MessageBody extends Readable {
  /** The whole body arrived. */
  complete = false;
  readonly #resume: () => void;
  readonly #cancel: (err: Error | null) => void;

  /** `resume` is called when the reader wants more; `cancel` when the body is destroyed unfinished. */
  constructor(resume: () => void, cancel: (err: Error | null) => void) {
    super();
    this.#resume = resume;
    this.#cancel = cancel;
  }

  /** Hands bytes on; answers false when the reader is behind (pause until `resume`). */
  write(chunk: Buffer): boolean {
    return this.push(chunk);
  }

  finish(): void {
    this.complete = true;
    this.push(null);
  }

  /** The connection failed under the body: an error for a reader that listens for one, else a close. */
  fail(err: Error): void {
    if (this.destroyed) return;
    this.destroy(this.listenerCount('error') > 0 ? err : undefined);
  }

  override _read(): void {
    this.#resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.complete) this.#cancel(err);
    callback(err);
  }
}
