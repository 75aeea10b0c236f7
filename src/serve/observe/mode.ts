/**
 * A lane's mode, one value read by the metrics, `/api/stats` and the dashboard alike: open, cooling
 * after a 429 until a time, probing (one request at a time until the server has spoken), or tripped by
 * a quota error until a probe succeeds. The engine reports it; the observer only redacts it.
 */
import type { LaneMode, LaneStats } from '../../engine/lane.js';

export type { LaneMode };
export type LaneModeKind = LaneMode['kind'];
export const MODE_KINDS: readonly LaneModeKind[] = ['open', 'cooling', 'probing', 'tripped'];

/** The mode of a lane, with anything key-shaped in a trip's reason redacted. */
export function laneMode(lane: LaneStats): LaneMode {
  return lane.mode.kind === 'tripped' ? { ...lane.mode, reason: redact(lane.mode.reason) } : lane.mode;
}

const MAX_REASON = 500;

/** Removes anything shaped like an API key from a message before it is shown or exported; cuts it short. */
export function redact(text: string): string {
  const clean = text.replace(/\b(sk|key|rk|pk)[-_][A-Za-z0-9_*-]{6,}/g, '[redacted]');
  if (clean.length <= MAX_REASON) return clean;
  const cut = clean.slice(0, MAX_REASON);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), MAX_REASON - 40))}…`;
}
