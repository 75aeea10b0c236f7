/**
 * The lane id: `upstream|keyFingerprint|model`, built and read here and nowhere else. It names the lane
 * in events, errors, stats and store keys; it never contains a key (only its fingerprint).
 */
import type { LaneRef } from './request.js';

/** The lane id of a lane reference. */
export function laneId(ref: LaneRef): string {
  return `${ref.upstream}|${ref.keyFingerprint}|${ref.model}`;
}

/**
 * The lane reference a lane id names, or `undefined` for a string that is not one. The upstream and the
 * fingerprint hold no `|`, so everything after the second one is the model (which may).
 */
export function parseLaneId(id: string): LaneRef | undefined {
  const first = id.indexOf('|');
  const second = first === -1 ? -1 : id.indexOf('|', first + 1);
  if (second === -1) return undefined;
  return {
    upstream: id.slice(0, first),
    keyFingerprint: id.slice(first + 1, second),
    model: id.slice(second + 1),
  };
}
