/**
 * Per-request wishes, one vocabulary for every shell: `x-sluice-*` request headers. They are read and
 * stripped before anything goes upstream.
 */
import { sluiceError } from '../engine/errors.js';
import { isMilliseconds } from '../engine/validate.js';
import { PRIORITIES, type Priority } from '../engine/events.js';

export interface Wishes {
  priority?: Priority;
  tenant?: string;
  maxWaitMs?: number;
}

/**
 * Every `x-sluice-*` request header Sluice reads, stripped before a request goes upstream.
 * `x-sluice-cache` is reserved for the response cache: stripped, not read yet.
 */
export const WISH_HEADERS = [
  'x-sluice-priority',
  'x-sluice-tenant',
  'x-sluice-max-wait-ms',
  'x-sluice-cache',
] as const;

/**
 * Reads the `x-sluice-*` headers through a case-insensitive getter. Throws `invalid_option` naming the
 * header and the value. Stripping them before the request goes upstream is the caller's job.
 */
export function readWishes(headers: { get(name: string): string | null }): Wishes {
  const wishes: Wishes = {};
  const priority = headers.get('x-sluice-priority');
  if (priority !== null) {
    const value = priority.trim().toLowerCase();
    if (!(PRIORITIES as readonly string[]).includes(value)) {
      throw sluiceError(
        'invalid_option',
        `x-sluice-priority must be one of ${PRIORITIES.join(', ')}; got "${priority}".`,
      );
    }
    wishes.priority = value as Priority;
  }
  const tenant = headers.get('x-sluice-tenant');
  if (tenant !== null && tenant.trim() !== '') wishes.tenant = tenant.trim();
  const wait = headers.get('x-sluice-max-wait-ms');
  if (wait !== null) {
    const ms = Number(wait);
    if (wait.trim() === '' || !isMilliseconds(ms)) {
      throw sluiceError(
        'invalid_option',
        `x-sluice-max-wait-ms must be a number of milliseconds ≥ 0; got "${wait}".`,
      );
    }
    wishes.maxWaitMs = ms;
  }
  return wishes;
}
