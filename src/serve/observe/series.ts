/**
 * Ring buffers with one slot per second, for the dashboard's time series: the last N seconds and
 * nothing more, whatever the traffic. A slot remembers which second it holds, so a slot left over from
 * a previous lap reads as empty rather than as stale data.
 */

/** Events counted per second (requests, tokens, 429s); reads give per-second sums. */
export class CounterSeries {
  readonly #values: Float64Array;
  readonly #seconds: Float64Array;

  constructor(readonly length: number) {
    this.#values = new Float64Array(length);
    this.#seconds = new Float64Array(length).fill(-1);
  }

  /** Adds `amount` to the second that contains epoch ms `atMs`. */
  add(atMs: number, amount = 1): void {
    const second = Math.floor(atMs / 1000);
    const slot = second % this.length;
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second;
      this.#values[slot] = 0;
    }
    this.#values[slot]! += amount;
  }

  /** Raises the second that contains epoch ms `atMs` to at least `value` (a per-second maximum). */
  max(atMs: number, value: number): void {
    const second = Math.floor(atMs / 1000);
    const slot = second % this.length;
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second;
      this.#values[slot] = value;
    } else if (value > this.#values[slot]!) this.#values[slot] = value;
  }

  /** The largest per-second value over the seconds `from` to `to` (for series fed by `max`). */
  maxOver(from: number, to: number): number {
    let best = 0;
    for (let s = Math.max(from, to - this.length + 1); s <= to; s++) best = Math.max(best, this.at(s));
    return best;
  }

  /** The count of one second (epoch seconds); 0 when it is not held. */
  at(second: number): number {
    const slot = second % this.length;
    return this.#seconds[slot] === second ? this.#values[slot]! : 0;
  }

  /** The sum over the seconds `from` to `to`, both included. */
  sum(from: number, to: number): number {
    let total = 0;
    for (let s = Math.max(from, to - this.length + 1); s <= to; s++) total += this.at(s);
    return total;
  }

  /**
   * For each second from `from` to `to`: the sum over the `window` seconds ending there (a per-minute
   * rate sampled every second when `window` is 60).
   */
  rolling(from: number, to: number, window: number): number[] {
    const out: number[] = [];
    let running = this.sum(from - window + 1, from - 1);
    for (let s = from; s <= to; s++) {
      running += this.at(s);
      out.push(running);
      running -= this.at(s - window + 1);
    }
    return out;
  }
}

/** A value sampled every second (a limit, a queue depth); reads carry the last sample forward. */
export class GaugeSeries {
  readonly #values: Float64Array;
  readonly #seconds: Float64Array;

  constructor(readonly length: number) {
    this.#values = new Float64Array(length);
    this.#seconds = new Float64Array(length).fill(-1);
  }

  /** Sets the value of the second that contains epoch ms `atMs` (a later sample in that second wins). */
  set(atMs: number, value: number): void {
    const second = Math.floor(atMs / 1000);
    const slot = second % this.length;
    this.#seconds[slot] = second;
    this.#values[slot] = value;
  }

  /**
   * One value per second from `from` to `to`: the sample of that second, else the last one before it
   * (within the buffer), else `null` (nothing known yet; a `NaN` sample also reads as `null`).
   */
  values(from: number, to: number): (number | null)[] {
    const out: (number | null)[] = [];
    let last: number | null = null;
    for (let s = to - this.length + 1; s < from; s++) {
      const slot = s % this.length;
      if (this.#seconds[slot] === s) last = this.#read(slot);
    }
    for (let s = from; s <= to; s++) {
      const slot = s % this.length;
      if (s > to - this.length && this.#seconds[slot] === s) last = this.#read(slot);
      out.push(last);
    }
    return out;
  }

  #read(slot: number): number | null {
    const v = this.#values[slot]!;
    return Number.isNaN(v) ? null : v;
  }
}
