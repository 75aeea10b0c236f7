/**
 * How a batch run stops: one stop at a time (quota, key, upstream down, interrupt, write error), which
 * requests it cancels, the grace time it gives requests on the wire, and when reading the input ends.
 *
 * A stop for the upstream's reasons (quota, key, upstream down) reads on, so that every remaining line
 * is written as `not_attempted`; an interrupt or a failed write stops reading too.
 */
import { WriteError } from './output.js';
import type { StopInfo } from './options.js';
import type { ProgressTracker } from './progress.js';
import type { Redactor } from './redact.js';
import type { BatchRequest } from './input.js';

/** The abort reason of requests the run itself cancelled (stop, interrupt). */
export class RunStopped extends Error {
  override readonly name = 'RunStopped';
}

/** One line's request while it is in the run's window. */
export interface Item {
  request: BatchRequest;
  controller: AbortController;
  /** The lane id, once known. */
  lane?: string;
  /** Inside `send` (the HTTP exchange is under way). */
  sending: boolean;
  /** Attempts that reached `send` and went out. */
  sends: number;
  /** It was on the wire when the run abandoned it. */
  onWire?: boolean;
}

/** What a stop acts on. */
export interface StopContext {
  readonly graceMs: number;
  readonly redact: Redactor;
  readonly tracker: ProgressTracker;
  /** The requests handed to the engine and not finished. */
  readonly window: ReadonlySet<Item>;
  /** Wakes the line loop. */
  notify(): void;
}

const INTERRUPTED: StopInfo = { reason: 'interrupt', message: 'Interrupted: stopped sending.' };

export class RunStop {
  readonly #ctx: StopContext;
  #info: StopInfo | undefined;
  #graceTimer: NodeJS.Timeout | undefined;
  #writeFailedOnce = false;
  /** Aborts the pass that counts the input's lines. */
  readonly counting = new AbortController();

  constructor(ctx: StopContext) {
    this.#ctx = ctx;
  }

  /** Why the run stopped; `undefined` while it runs. */
  get info(): StopInfo | undefined {
    return this.#info;
  }

  /** An interrupted run, or one that cannot write, reads no further; other stops read on. */
  get readingStopped(): boolean {
    return this.#info?.reason === 'interrupt' || this.#info?.reason === 'write_error';
  }

  /**
   * Stops sending: requests waiting for admission are dropped, requests in flight get `graceMs` to
   * finish, then they are abandoned too.
   */
  interrupt(): void {
    if (this.#info?.reason === 'interrupt') return;
    if (this.#info) {
      // Already stopping (quota, key, upstream down): requests on the wire get their grace time.
      this.#startGrace();
      return;
    }
    this.stop(INTERRUPTED);
  }

  /** Abandons every request now (a second Ctrl-C). */
  abort(): void {
    if (!this.#info) this.stop(INTERRUPTED);
    for (const item of this.#ctx.window) {
      if (item.sending) item.onWire = true;
      item.controller.abort(new RunStopped('abandoned'));
    }
    this.counting.abort();
    this.#ctx.notify();
  }

  /**
   * The first write error stops sending and reading (also a stop that was reading on to write
   * `not_attempted` lines; not an interrupt); requests on the wire get the grace time, then are abandoned.
   */
  writeFailed(err: unknown): void {
    if (this.#writeFailedOnce) return;
    this.#writeFailedOnce = true;
    const message =
      err instanceof WriteError
        ? `${err.message} Stopped sending at the first failed write; every line already in the files is whole.`
        : `Unexpected failure while recording a result: ${(err as Error)?.message ?? String(err)}. Stopped sending.`;
    const earlier = this.#info;
    if (earlier?.reason === 'interrupt') return;
    // A stop that was reading on (quota, key, upstream down) becomes this one; its reason is kept.
    this.#info = undefined;
    this.stop({ reason: 'write_error', message: earlier ? `${message}\n${earlier.message}` : message });
  }

  /** Stops the run for `stop` unless it is already stopping. */
  stop(stop: StopInfo): void {
    if (this.#info) return;
    this.#info = { ...stop, message: this.#ctx.redact.text(stop.message) };
    this.#ctx.tracker.stopping();
    // Requests not on the wire are not sent any more; those on the wire finish (their answers count).
    for (const item of this.#ctx.window) {
      if (!item.sending) item.controller.abort(new RunStopped(stop.reason));
    }
    if (this.readingStopped) {
      // Reading stops; requests on the wire get their grace time.
      this.counting.abort();
      this.#startGrace();
    }
    this.#ctx.notify();
  }

  /** The run is over: no grace timer may fire after it. */
  clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
  }

  #startGrace(): void {
    this.#graceTimer ??= setTimeout(() => this.abort(), this.#ctx.graceMs);
    this.#graceTimer.unref();
  }
}
