/**
 * A tenant's share of one lane (the `tenantLimits` option): at most so many of the lane's requests and
 * tokens per minute or day, and at most so many requests in flight. The tenant's buckets live in the
 * store beside the lane's own, under ids of their own (`tenant:<name>:requests/60000`), and so do its
 * concurrency leases (the set `tenant:<name>:concurrency`), so the one `reserve` call of an admission
 * charges the lane and the tenant together and leases their slots, all or nothing. In a shared store the
 * tenant's `maxConcurrency` thus holds across processes; the local count stays as a first gate.
 *
 * Sub-limits are the operator's own policy, not the server's: they are never learned, never paced down
 * after 429s and keep no safety margin. While a tenant's own bucket or concurrency holds its next request
 * back, the queue skips the tenant (`AdmissionQueue.hold`) and the lane keeps admitting everyone else.
 */
import { configuredBuckets, type BucketSpec } from './limits.js';
import type { LimitsConfig } from './options.js';
import type { LaneSnapshot } from './store.js';
import type { BucketStats } from './types.js';

/** A tenant's share of a lane, as `engine.laneStats(lane, tenant)` reports it. */
export interface TenantStats {
  tenant: string;
  /** The tenant's requests holding a concurrency slot on the lane. */
  inFlight: number;
  /** The tenant's own buckets (none without sub-limits), ids as the store keeps them. */
  buckets: BucketStats[];
}

const NONE: readonly BucketSpec[] = Object.freeze([]);

/** The store id of a tenant's bucket: the name is URI-encoded, so ids never hold spaces, braces or `|`. */
export function tenantBucketId(tenant: string, bucketId: string): string {
  return `tenant:${encodeURIComponent(tenant)}:${bucketId}`;
}

export class Tenant {
  /** Set through {@link configure}. */
  config: LimitsConfig | undefined;
  /** The tenant's own buckets (store ids `tenant:<name>:<dimension>/<window>`). */
  buckets: readonly BucketSpec[] = NONE;
  /** The tenant's requests holding a concurrency slot on the lane. */
  inFlight = 0;
  /** `execute` calls of the tenant on the lane not settled yet; the lane keeps the tenant while any is. */
  runs = 0;
  /** The store id of the tenant's set of concurrency leases, and the `blockedBy` when it is full. */
  readonly concurrencyId: string;
  readonly #prefix: string;
  #laneBuckets: readonly BucketSpec[] | undefined;
  #all: readonly BucketSpec[] = NONE;

  constructor(
    readonly name: string,
    config: LimitsConfig | undefined,
  ) {
    this.#prefix = tenantBucketId(name, '');
    this.concurrencyId = this.#prefix + 'concurrency';
    this.configure(config);
  }

  /** Takes new sub-limits; the bucket ids stay, so the store's levels carry over. */
  configure(config: LimitsConfig | undefined): void {
    this.config = config;
    this.buckets = configuredBuckets(config).map((spec) => ({ ...spec, id: this.#prefix + spec.id }));
    this.#laneBuckets = undefined;
  }

  /**
   * The tenant's buckets and the lane's, for one `reserve` (the same array until either changes). The
   * tenant's come first: on a tie the store names the first bucket, and the tenant is then held.
   */
  with(laneBuckets: readonly BucketSpec[]): readonly BucketSpec[] {
    if (this.buckets.length === 0) return laneBuckets;
    if (this.#laneBuckets !== laneBuckets) {
      this.#laneBuckets = laneBuckets;
      this.#all = [...this.buckets, ...laneBuckets];
    }
    return this.#all;
  }

  /** Whether a bucket id or set id (a reservation's `blockedBy`) is one of the tenant's own. */
  owns(bucketId: string | undefined): boolean {
    return bucketId !== undefined && bucketId.startsWith(this.#prefix);
  }

  /** Whether the tenant's own concurrency lets one more request go now. */
  gateOpen(): boolean {
    const max = this.config?.maxConcurrency;
    return !max || this.inFlight < max;
  }

  /** Whether the tenant's requests hold a concurrency slot until their bodies are done. */
  get limitsConcurrency(): boolean {
    return this.config?.maxConcurrency !== undefined;
  }

  /** The tenant as `laneStats` shows it, given the store's view of the lane. */
  stats(snapshot: LaneSnapshot): TenantStats {
    return {
      tenant: this.name,
      inFlight: this.inFlight,
      buckets: this.buckets.map((b) => ({ ...b, level: snapshot.levels[b.id] ?? 0 })),
    };
  }
}
