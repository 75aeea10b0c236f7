/**
 * A lane's mode, one value read by the metrics, `/api/stats` and the dashboard alike: open, cooling
 * after a 429 until a time, probing (one request at a time until the server has spoken), or tripped by
 * a quota error until a probe succeeds.
 */
import type { LaneStats } from '../../engine/engine.js';

export type LaneMode =
  | { kind: 'open' }
  | { kind: 'cooling'; until: number }
  | { kind: 'probing'; reason: string }
  | { kind: 'tripped'; reason: string; probeAt: number };

export type LaneModeKind = LaneMode['kind'];
export const MODE_KINDS: readonly LaneModeKind[] = ['open', 'cooling', 'probing', 'tripped'];

/** What the observer remembers of a trip from the `lane_tripped` event (the stats say only "tripped"). */
export interface TripNote {
  reason: string;
  /** Epoch ms of the next probe as far as the observer can tell. */
  probeAt: number;
}

/**
 * The mode of a lane. Derived from `tripped` and `cooldownUntil` plus the observer's note of the trip;
 * once `LaneStats` carries `mode` itself this becomes `return lane.mode`.
 */
export function laneMode(lane: LaneStats, now: number, trip: TripNote | undefined): LaneMode {
  if (lane.tripped) {
    return { kind: 'tripped', reason: trip?.reason ?? 'quota exhausted', probeAt: trip?.probeAt ?? now };
  }
  if (lane.cooldownUntil > now) return { kind: 'cooling', until: lane.cooldownUntil };
  return { kind: 'open' };
}
