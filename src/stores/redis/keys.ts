/**
 * Key names. Every key starts with the store's prefix. A lane's keys carry the lane id in a hash tag
 * (`{…}`), so Redis Cluster keeps all of one lane's keys in one slot and a script may touch them together.
 *
 * Lane ids are `upstream | key fingerprint | model`: the fingerprint is 16 hex characters of SHA-256 of
 * the API key, never the key, so no key name holds key material. Braces and `%` in a lane id are
 * percent-encoded so that they cannot end the hash tag early.
 */

/** The hash holding a lane's buckets and cooldown: `<prefix>{<lane>}:state`. */
export function laneKey(prefix: string, lane: string): string {
  return `${prefix}{${encodeLane(lane)}}:state`;
}

/** The sorted set of live store instances (their heartbeats): `<prefix>{instances}`. */
export function instancesKey(prefix: string): string {
  return `${prefix}{instances}`;
}

/** The epoch, which changes when Redis loses its data: `<prefix>{instances}:epoch` (same slot as the set). */
export function epochKey(prefix: string): string {
  return `${prefix}{instances}:epoch`;
}

/** The hash of what a lane's processes share beyond levels (learned limits, trip): `<prefix>{<lane>}:shared`. */
export function sharedKey(prefix: string, lane: string): string {
  return `${prefix}{${encodeLane(lane)}}:shared`;
}

/** The sorted set of a lane's concurrency leases: `<prefix>{<lane>}:slots`. */
export function slotsKey(prefix: string, lane: string): string {
  return `${prefix}{${encodeLane(lane)}}:slots`;
}

/**
 * The sorted set of one tenant's concurrency leases on a lane: `<prefix>{<lane>}:slots:<set id>` (the set
 * id as the engine names it, `tenant:<name>:concurrency`; in the lane's hash slot).
 */
export function tenantSlotsKey(prefix: string, lane: string, setId: string): string {
  return `${slotsKey(prefix, lane)}:${setId}`;
}

function encodeLane(lane: string): string {
  return lane.replace(/[%{}]/g, (c) => encodeURIComponent(c));
}
