/**
 * What a request lets the cache do: read an entry, write one, and how old an entry it accepts. From the
 * `x-sluice-cache` header (`on`, `off`, `refresh`), the standard `Cache-Control` request directives
 * (`no-store`, `no-cache`, `max-age=N`), and the caller's default.
 */
import { sluiceError } from '../engine/errors.js';

export interface CachePolicy {
  /** An entry may answer this request. */
  read: boolean;
  /** This request's answer may be stored. */
  write: boolean;
  /** Oldest entry accepted, ms; `Infinity` for any unexpired one. */
  maxAgeMs: number;
}

export const BYPASS: CachePolicy = { read: false, write: false, maxAgeMs: 0 };

/**
 * The policy of one request. `enabled` is the caller's default (a client or a virtual key opted in).
 * Throws `invalid_option` for a bad `x-sluice-cache` value.
 */
export function cachePolicy(headers: { get(name: string): string | null }, enabled: boolean): CachePolicy {
  const wish = headers.get('x-sluice-cache');
  let read = enabled;
  let write = enabled;
  if (wish !== null) {
    const value = wish.trim().toLowerCase();
    if (value === 'on') read = write = true;
    else if (value === 'off') read = write = false;
    else if (value === 'refresh') {
      read = false;
      write = true;
    } else {
      throw sluiceError('invalid_option', `x-sluice-cache must be one of on, off, refresh; got "${wish}".`);
    }
  }
  let maxAgeMs = Infinity;
  const control = headers.get('cache-control');
  if (control === null) return { read, write, maxAgeMs };
  for (const directive of control.toLowerCase().split(',')) {
    const d = directive.trim();
    if (d === 'no-store') read = write = false;
    else if (d === 'no-cache') read = false;
    else if (d.startsWith('max-age=')) {
      const seconds = Number(d.slice(8));
      if (Number.isFinite(seconds) && seconds >= 0) maxAgeMs = Math.min(maxAgeMs, seconds * 1000);
    }
  }
  return { read, write, maxAgeMs };
}

/** Whether an answer's own `Cache-Control` forbids storing it. */
export function forbidsStore(cacheControl: string | null | undefined): boolean {
  return /(^|,)\s*(no-store|private)\s*(,|$)/i.test(cacheControl ?? '');
}
