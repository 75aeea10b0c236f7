/**
 * The response cache: look an answer up, store one, and coalesce identical requests in flight — one
 * goes upstream and the others wait for its answer (and send their own if it does not become an
 * entry). A hit never reaches the engine, so it reserves nothing against the rate limits; the tokens it
 * saved are counted.
 */
import { memoryBackend, type CacheBackend } from './backend.js';
import { serves, type CachedAnswer, type Shape } from './entry.js';
import type { CachePolicy } from './policy.js';

export interface CacheOptions {
  /** How long an entry lives. @default 3600000 (one hour) */
  ttlMs?: number;
  /** Bytes of memory for entries (the memory backend). @default 67108864 (64 MiB) */
  maxBytes?: number;
  /** Entries above this size are not stored. @default 4194304 (4 MiB) */
  maxEntryBytes?: number;
  /** Where entries live. @default memory, bounded by `maxBytes` */
  backend?: CacheBackend;
  /**
   * Share entries between callers (keys) under this name. Without it every key has its own entries,
   * so that two tenants never see each other's answers. @default each key apart
   */
  namespace?: string;
  /** @default Date.now */
  now?: () => number;
}

export const CACHE_DEFAULTS = {
  ttlMs: 3_600_000,
  maxBytes: 64 * 1024 * 1024,
  maxEntryBytes: 4 * 1024 * 1024,
} as const;

export interface CacheStats {
  hits: number;
  misses: number;
  /** Requests the cache was told to leave alone (`off`, `no-store`). */
  bypassed: number;
  stored: number;
  /** Requests that waited for an identical one in flight instead of going upstream. */
  coalesced: number;
  /** Tokens the hits would have used. */
  tokensSaved: number;
}

export class ResponseCache {
  readonly ttlMs: number;
  readonly maxEntryBytes: number;
  readonly namespace: string | undefined;
  readonly stats: CacheStats = { hits: 0, misses: 0, bypassed: 0, stored: 0, coalesced: 0, tokensSaved: 0 };
  readonly #backend: CacheBackend;
  readonly #now: () => number;
  readonly #inFlight = new Map<string, Promise<void>>();

  constructor(options: CacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? CACHE_DEFAULTS.ttlMs;
    this.maxEntryBytes = options.maxEntryBytes ?? CACHE_DEFAULTS.maxEntryBytes;
    this.namespace = options.namespace;
    this.#backend =
      options.backend ?? memoryBackend({ maxBytes: options.maxBytes ?? CACHE_DEFAULTS.maxBytes });
    this.#now = options.now ?? Date.now;
    for (const [name, value] of [
      ['ttlMs', this.ttlMs],
      ['maxEntryBytes', this.maxEntryBytes],
    ] as const) {
      if (!(typeof value === 'number' && value > 0))
        throw new RangeError(
          `Expected cache option \`${name}\` to be a number above 0, got ${String(value)}.`,
        );
    }
  }

  now(): number {
    return this.#now();
  }

  /** The entry that answers this request, if there is one young enough and of a shape it can serve. */
  async lookup(key: string, policy: CachePolicy, shape: Shape): Promise<CachedAnswer | undefined> {
    if (!policy.read) return undefined;
    const entry = await this.#backend.get(key);
    if (!entry || !serves(entry, shape)) return undefined;
    const age = this.#now() - entry.storedAt;
    if (age > policy.maxAgeMs || age > this.ttlMs) return undefined;
    return entry;
  }

  /**
   * What answers this request: a stored entry, or the lead (go upstream, then call `done` once the
   * answer is stored or failed). Identical requests in flight wait for the one that leads. The lead is
   * taken before looking, so an answer whose store finishes in between is never missed.
   */
  async claim(
    key: string,
    policy: CachePolicy,
    shape: Shape,
  ): Promise<{ entry: CachedAnswer } | { done: () => void }> {
    const alone = { done: () => {} };
    if (!policy.read) return alone;
    const lead = this.lead(key);
    if ('wait' in lead) {
      await lead.wait;
      const entry = await this.lookup(key, policy, shape);
      // When the first one's answer did not become an entry, this one goes on its own.
      return entry ? { entry } : alone;
    }
    let entry: CachedAnswer | undefined;
    try {
      entry = await this.lookup(key, policy, shape);
    } catch (err) {
      lead.done();
      throw err;
    }
    if (!entry) return lead;
    lead.done();
    return { entry };
  }

  /**
   * Coalescing: `undefined` when this request leads (it goes upstream; call the returned `done` once
   * its answer is stored or failed), else a promise that settles when the leader is done.
   */
  lead(key: string): { done: () => void } | { wait: Promise<void> } {
    const running = this.#inFlight.get(key);
    if (running) {
      this.stats.coalesced++;
      return { wait: running };
    }
    let done!: () => void;
    const promise = new Promise<void>((resolve) => (done = resolve));
    this.#inFlight.set(key, promise);
    return {
      done: () => {
        if (this.#inFlight.get(key) === promise) this.#inFlight.delete(key);
        done();
      },
    };
  }

  async store(key: string, entry: CachedAnswer): Promise<void> {
    if (entry.bytes > this.maxEntryBytes) return;
    await this.#backend.set(key, entry, this.ttlMs);
    this.stats.stored++;
  }

  /** Counts a hit and what it saved. */
  hit(entry: CachedAnswer): void {
    this.stats.hits++;
    this.stats.tokensSaved += entry.tokens;
  }

  async close(): Promise<void> {
    await this.#backend.close?.();
  }
}
