/**
 * Time comes in from outside: every timing decision in the engine reads `clock.now()` and waits with
 * `clock.sleep()`, so tests drive time exactly with a manual clock instead of sleeping.
 */

export interface Clock {
  /** Milliseconds since some fixed origin (wall clock for the system clock). */
  now(): number;
  /**
   * Resolves after `ms` milliseconds. When `signal` aborts first, it rejects with the signal's reason.
   * Must not keep the process alive on its own when `unref` is asked for.
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** The real clock: `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep(ms, signal) {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const onAbort = () => {
        clearTimeout(timer);
        reject(abortReason(signal!));
      };
      const timer = setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
}

/**
 * A clock that moves only when told to. `advance(ms)` runs every sleeper that falls due, in time order,
 * letting promise callbacks settle between them, so code under test sees the same interleaving as in
 * real time.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #sleepers: Sleeper[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortReason(signal));
      const sleeper: Sleeper = { at: this.#now + Math.max(0, ms), seq: this.#seq++, resolve };
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(abortReason(signal!));
      };
      sleeper.resolve = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#sleepers.push(sleeper);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Number of pending sleeps (useful to assert that nothing waits). */
  get pending(): number {
    return this.#sleepers.length;
  }

  /** Moves time forward by `ms`, waking sleepers in order and flushing microtasks after each. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      await flushMicrotasks();
      let next: Sleeper | undefined;
      for (const s of this.#sleepers) {
        if (s.at <= target && (!next || s.at < next.at || (s.at === next.at && s.seq < next.seq))) next = s;
      }
      if (!next) break;
      this.#sleepers = this.#sleepers.filter((s) => s !== next);
      this.#now = Math.max(this.#now, next.at);
      next.resolve();
    }
    this.#now = target;
    await flushMicrotasks();
  }

  /** Advances until no sleeper is left or `limitMs` has passed; returns the time advanced. */
  async runAll(limitMs = 86_400_000 * 7): Promise<number> {
    const start = this.#now;
    for (;;) {
      await flushMicrotasks();
      if (this.#sleepers.length === 0 || this.#now - start >= limitMs) break;
      const next = Math.min(...this.#sleepers.map((s) => s.at));
      await this.advance(Math.max(0, next - this.#now));
    }
    return this.#now - start;
  }
}

/** Lets queued promise callbacks run (several turns, since chains of awaits take several). */
export async function flushMicrotasks(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
