/**
 * The worker's counts, moved by its own verdicts and the engine's events: what the progress line every
 * 10 s and `/metrics` say. Plain numbers; the rate is over the last interval between two lines.
 */
import type { SluiceEvent } from '../engine/events.js';

export class WorkerTally {
  received = 0;
  succeeded = 0;
  failed = 0;
  dead = 0;
  finishedBefore = 0;
  requeued = 0;
  quotaStops = 0;
  sent = 0;
  rateLimited = 0;
  retries = 0;
  tokensAdmitted = 0;
  admitted = 0;
  answered = 0;
  /** Messages in the broker's queue, when the transport last read it. */
  backlog: number | undefined;
  readonly #now: () => number;
  readonly startedAt: number;
  #latency: number | undefined;
  #last = { at: 0, done: 0 };

  constructor(now: () => number) {
    this.#now = now;
    this.startedAt = now();
    this.#last.at = this.startedAt;
  }

  event(event: SluiceEvent): void {
    switch (event.type) {
      case 'sent':
        this.sent++;
        break;
      case 'admitted':
        this.admitted++;
        this.tokensAdmitted += event.tokens;
        break;
      case 'rate_limited':
        this.rateLimited++;
        break;
      case 'retried':
        this.retries++;
        break;
      case 'answered':
        this.answered++;
        // A moving average of answer latency (the pace needs it, not its history).
        this.#latency =
          this.#latency === undefined ? event.latencyMs : this.#latency * 0.9 + event.latencyMs * 0.1;
        break;
      default:
        break;
    }
  }

  /** Messages that ended with a result published (ok or error). */
  get done(): number {
    return this.succeeded + this.failed;
  }

  /** The answers' latency (a moving average), once one was seen. */
  latencyMs(): number | undefined {
    return this.#latency;
  }

  /** Tokens admitted per request so far (0 before the first admission). */
  tokensPerRequest(): number {
    return this.admitted === 0 ? 0 : this.tokensAdmitted / this.admitted;
  }

  /**
   * One progress line: `worker orders: 1,204 done (1,200 ok, 4 failed), 3 dead, 8.0/s (limit 8.3/s),
   * 0 429s, 12 held, backlog 796`.
   */
  line(queue: string, holding: number, limitPerSec: number | undefined, state: string): string {
    const now = this.#now();
    const seconds = Math.max((now - this.#last.at) / 1000, 0.001);
    const rate = (this.done - this.#last.done) / seconds;
    this.#last = { at: now, done: this.done };
    const parts = [
      `${fmt(this.done)} done (${fmt(this.succeeded)} ok, ${fmt(this.failed)} failed)`,
      ...(this.dead > 0 ? [`${fmt(this.dead)} dead`] : []),
      ...(this.finishedBefore > 0 ? [`${fmt(this.finishedBefore)} finished before`] : []),
      `${rate.toFixed(1)}/s${limitPerSec === undefined ? '' : ` (limit ${limitPerSec.toFixed(1)}/s)`}`,
      `${fmt(this.rateLimited)} 429s`,
      `${fmt(holding)} held`,
      ...(this.backlog === undefined ? [] : [`backlog ${fmt(this.backlog)}`]),
      ...(state === 'running' ? [] : [state]),
    ];
    return `worker ${queue}: ${parts.join(', ')}`;
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');
