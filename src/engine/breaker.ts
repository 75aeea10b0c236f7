/**
 * The quota breaker. A quota error trips the lane: everything queued on it fails at once with the same
 * error, and so does every new request, except one probe per `quotaProbeIntervalMs`. A success (the
 * probe's, or any other) closes the breaker; so does an operator's `resetLane()`.
 */
import type { EngineContext } from './context.js';
import { sluiceError, type SluiceError } from './errors.js';
import type { Lane } from './lane.js';

export class Breaker {
  readonly #ctx: EngineContext;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  /** Fails fast on a held lane; once per probe interval, lets the request through as the quota probe. */
  check(lane: Lane): void {
    const mode = lane.mode;
    if (mode.kind === 'open' || (mode.kind === 'probing' && mode.reason !== 'quota_probe')) return;
    const now = this.#ctx.clock.now();
    if (now < mode.probeAt) throw this.#failFast(lane, mode.error, mode.probeAt);
    lane.mode = {
      kind: 'probing',
      reason: 'quota_probe',
      error: mode.error,
      probeAt: now + this.#ctx.quotaProbeIntervalMs,
    };
  }

  /** Trips the lane with `error` and fails everything queued on it. */
  trip(lane: Lane, error: SluiceError, now: number, id: number): void {
    const probeAt = now + this.#ctx.quotaProbeIntervalMs;
    lane.mode = { kind: 'tripped', reason: error.message, error, probeAt };
    this.#ctx.emit({ type: 'lane_tripped', at: now, lane: lane.id, id, reason: error.message });
    for (const ticket of lane.queue.drain()) {
      ticket.cleanup();
      ticket.reject(this.#failFast(lane, error, probeAt));
    }
  }

  /** A success on the lane: it is open again (`lane_reset` when the breaker held it). */
  succeeded(lane: Lane, now: number): void {
    if (lane.succeeded()) this.#ctx.emit({ type: 'lane_reset', at: now, lane: lane.id, id: 0 });
  }

  /** The error a request on a held lane fails with: the trip's own, with the wait until the next probe. */
  #failFast(lane: Lane, error: SluiceError, probeAt: number): SluiceError {
    return sluiceError('quota_exhausted', error.message, {
      lane: lane.id,
      retryAfterMs: Math.max(0, probeAt - this.#ctx.clock.now()),
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.body === undefined ? {} : { body: error.body }),
    });
  }
}
