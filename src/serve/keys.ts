/**
 * Who is calling. Without virtual keys, the caller's own credential goes upstream and its fingerprint
 * is the lane. With virtual keys (config `keys:`), the caller presents its app's key, which the gateway
 * knows only by its SHA-256; the upstream key the app maps to replaces it, and an unknown key is refused.
 */
import { createHash } from 'node:crypto';
import type { Priority } from '../engine/events.js';
import { credentialOf } from '../protocol/lane.js';
import type { Flavor, VirtualKey } from './config.js';

export type Caller = { ok: true; app: VirtualKey | undefined } | { ok: false; message: string };

export class KeyRing {
  readonly #byHash = new Map<string, VirtualKey>();

  constructor(keys: readonly VirtualKey[]) {
    for (const key of keys) this.#byHash.set(key.keySha256, key);
  }

  /** Whether virtual keys are in force (then every caller must present one). */
  get active(): boolean {
    return this.#byHash.size > 0;
  }

  identify(headers: { get(name: string): string | null }): Caller {
    if (!this.active) return { ok: true, app: undefined };
    const presented = credentialOf(headers);
    if (!presented) {
      return {
        ok: false,
        message: 'No API key: this gateway needs the app’s virtual key (Authorization: Bearer …).',
      };
    }
    const app = this.#byHash.get(sha256(presented));
    if (!app)
      return { ok: false, message: 'Incorrect API key: this key is not one of the gateway’s virtual keys.' };
    return { ok: true, app };
  }
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The auth header each flavor's upstream reads. */
export function authHeader(flavor: Flavor, key: string): [name: string, value: string] {
  if (flavor === 'azure') return ['api-key', key];
  if (flavor === 'anthropic') return ['x-api-key', key];
  return ['authorization', `Bearer ${key}`];
}

export const AUTH_HEADERS = ['authorization', 'api-key', 'x-api-key'] as const;

const RANK: Record<Priority, number> = { interactive: 0, default: 1, batch: 2 };

/** The class a request runs in: what it asks for, but never above its app's class. */
export function clampPriority(asked: Priority, ceiling: Priority | undefined): Priority {
  return ceiling !== undefined && RANK[asked] < RANK[ceiling] ? ceiling : asked;
}
