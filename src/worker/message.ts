/**
 * What both transports read off a message besides its body: the class its broker priority maps to,
 * and its headers as the core reads them (`x-sluice-*`, case-insensitive).
 */
import type { Priority } from '../engine/events.js';
import type { Delivery } from './core.js';

/** How an AMQP-style priority, 0–9 with higher first, maps to the engine's classes. */
export function classOfPriority(priority: number | undefined): Priority | undefined {
  if (priority === undefined || !Number.isFinite(priority)) return undefined;
  if (priority >= 7) return 'interactive';
  if (priority >= 4) return 'default';
  return 'batch';
}

/**
 * The class of a BullMQ job priority (1 is taken first, 0 or none means no priority): the inverse of
 * `sluice enqueue --priority p`, which adds the job with BullMQ priority `10 - p`.
 */
export function classOfJobPriority(priority: number | undefined): Priority | undefined {
  if (priority === undefined || !Number.isFinite(priority) || priority <= 0) return undefined;
  return classOfPriority(Math.max(0, 10 - priority));
}

/** Headers from a record (AMQP headers, a BullMQ job's `headers`), names compared without case. */
export function headerReader(headers: Record<string, unknown> | undefined): Delivery['headers'] {
  const map = new Map<string, string>();
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined || v === null) continue;
    map.set(k.toLowerCase(), Buffer.isBuffer(v) ? v.toString('utf8') : String(v));
  }
  return { get: (name) => map.get(name.toLowerCase()) ?? null };
}
