/**
 * The quota breaker. A quota error trips the lane: everything queued on it fails at once with the same
 * error, and so does every new request, except one probe per `quotaProbeIntervalMs`. A success (the
 * probe's, or any other) closes the breaker; so does an operator's `resetLane()`.
 *
 * The trip is shared through the store: every process whose reservation the store refuses as `tripped`
 * adopts it (fails its queue the same way and waits for the same probe), one probe per interval goes
 * whichever process sends it, and its success untrips the lane for all.
 */
import type { EngineContext } from './context.js';
import { sluiceError, type SluiceError } from './errors.js';
import type { Lane } from './lane.js';
import type { Reservation } from './store.js';

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

  /** Trips the lane with `error` (in the store too) and fails everything queued on it. */
  trip(lane: Lane, error: SluiceError, now: number, id: number): void {
    const record = error.body === undefined ? undefined : upstreamCode(error.body);
    void this.#ctx.store.trip?.(
      lane.id,
      { message: error.message, ...(record === undefined ? {} : { code: record }) },
      this.#ctx.quotaProbeIntervalMs,
      now,
    );
    this.#trip(lane, error, now + this.#ctx.quotaProbeIntervalMs, now, id);
  }

  /**
   * The store refused a reservation because another process tripped the lane: trips it here too, until
   * the shared probe, and returns the error the request fails with.
   */
  adopt(lane: Lane, reservation: Reservation, now: number, id: number): SluiceError {
    const trip = reservation.trip;
    const error = sluiceError(
      'quota_exhausted',
      trip?.message ?? "The account's quota is exhausted (another process tripped the lane).",
      {
        lane: lane.id,
        ...(trip?.code === undefined ? {} : { body: { error: { code: trip.code, message: trip.message } } }),
      },
    );
    const probeAt = now + reservation.waitMs;
    this.#trip(lane, error, probeAt, now, id);
    return this.#failFast(lane, error, probeAt);
  }

  #trip(lane: Lane, error: SluiceError, probeAt: number, now: number, id: number): void {
    lane.mode = { kind: 'tripped', reason: error.message, error, probeAt };
    this.#ctx.emit({ type: 'lane_tripped', at: now, lane: lane.id, id, reason: error.message });
    for (const ticket of lane.queue.drain()) {
      ticket.cleanup();
      ticket.reject(this.#failFast(lane, error, probeAt));
    }
  }

  /** A success on the lane: it is open again (`lane_reset` when the breaker held it), in the store too. */
  succeeded(lane: Lane, now: number): void {
    const held = lane.succeeded();
    if (held || lane.sharedProbe) {
      lane.sharedProbe = false;
      void this.#ctx.store.untrip?.(lane.id, now);
    }
    if (held) this.#ctx.emit({ type: 'lane_reset', at: now, lane: lane.id, id: 0 });
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

/** The upstream's error code in an OpenAI-shaped body, if any. */
function upstreamCode(body: unknown): string | undefined {
  const error = (body as { error?: { code?: unknown; type?: unknown } } | null)?.error;
  const code = error?.code ?? error?.type;
  return typeof code === 'string' ? code : undefined;
}
