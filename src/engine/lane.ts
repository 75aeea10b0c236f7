/**
 * A lane's state in this process: its limits (configured, learned, tightened, paced), its queue, what
 * is in flight, and its mode — one value saying whether requests flow freely, one at a time, or not at
 * all. Bucket levels and cooldowns live in the store, not here.
 */
import type { SluiceError } from './errors.js';
import type { Priority } from './events.js';
import { bucket, configuredBuckets, DIMENSIONS, MINUTE_MS, type BucketSpec } from './limits.js';
import type { LimitsConfig } from './options.js';
import { AdmissionQueue, type Queued } from './queue.js';
import type { LaneRef } from './request.js';
import type { LaneSnapshot } from './store.js';
import type { Tenant, TenantStats } from './tenant.js';
import type { BucketStats } from './types.js';

/**
 * What a lane is doing, as `engine.stats()` reports it.
 * - `open`: requests go as fast as the buckets allow.
 * - `cooling`: paused until `until` (epoch ms) because the server answered 429 (the store's cooldown).
 * - `probing`: one request at a time until the server has answered one: at the `start` (limits unknown),
 *   after a 429 (`rate_limited`), or while one request checks whether an exhausted quota is back
 *   (`quota_probe`; everything else fails fast meanwhile).
 * - `tripped`: the quota is exhausted; every request fails fast until one probe at `probeAt` succeeds or an
 *   operator resets the lane. `reason` is the error message.
 */
export type LaneMode =
  | { kind: 'open' }
  | { kind: 'cooling'; until: number }
  | { kind: 'probing'; reason: 'start' | 'rate_limited' | 'quota_probe' }
  | { kind: 'tripped'; reason: string; probeAt: number };

/** The breaker's hold on a lane: the error every request fails with, and when the next probe may go. */
interface Hold {
  error: SluiceError;
  probeAt: number;
}

/**
 * The mode a lane keeps itself. Cooling is the store's to know (a shared store may be cooling a lane
 * another process paused), so it is read from there for stats and never kept here.
 */
export type OwnMode =
  | { readonly kind: 'open' }
  | { readonly kind: 'probing'; readonly reason: 'start' | 'rate_limited' }
  | ({ kind: 'probing'; reason: 'quota_probe' } & Hold)
  | ({ kind: 'tripped'; reason: string } & Hold);

export const OPEN: OwnMode = Object.freeze({ kind: 'open' });
const PROBING_START: OwnMode = Object.freeze({ kind: 'probing', reason: 'start' });
const PROBING_RATE_LIMITED: OwnMode = Object.freeze({ kind: 'probing', reason: 'rate_limited' });

/**
 * Counting what is sent before any limit is known. Several processes that start on one fresh lane each
 * send a first request before any answer (a lane sends one at a time until its first answer); the first
 * to learn the limits would otherwise count only its own, and send more while the others' are still on
 * their way to the server. Charged in the store under the ids the learned buckets will have, these
 * carry their level over: a provisional bucket never refuses (its capacity is unbounded) and hardly
 * drains (one unit per second), and once the limits are known the level drains at their rate from when
 * it was charged.
 */
const PROVISIONAL: readonly BucketSpec[] = DIMENSIONS.map((dimension) => ({
  ...bucket(dimension, MINUTE_MS / 1000, MINUTE_MS),
  capacity: 1e15,
}));

/** Lane-level facts for metrics. */
export interface LaneStats {
  lane: string;
  model: string;
  upstream: string;
  queued: number;
  /** `queued` by priority class. */
  queuedByPriority: Record<Priority, number>;
  inFlight: number;
  mode: LaneMode;
  /** `mode` is `tripped`, or probing a tripped lane's quota. */
  tripped: boolean;
  /** Epoch ms until which the store pauses the lane; 0 when it does not. */
  cooldownUntil: number;
  buckets: BucketStats[];
  /** The tenant asked for in `engine.laneStats(lane, tenant)`, when the engine has `tenantLimits`. */
  tenant?: TenantStats;
}

/**
 * What waits in a lane's queue, as far as the lane and the quota breaker see it: a run's ticket
 * (`Ticket` in `run.ts`), which can be failed and cleaned up.
 */
export interface Waiting extends Queued {
  reject: (err: unknown) => void;
  cleanup: () => void;
}

/** A lane; `W` is what waits in its queue (the engine's lanes hold tickets of runs). */
export class Lane<W extends Waiting = Waiting> {
  readonly queue = new AdmissionQueue<W>();
  /** Specs learned from the server, by bucket id. */
  readonly learned = new Map<string, BucketSpec>();
  /** Capacities the server has shown to be lower than its stated limit (bursts enforced early). */
  readonly tightened = new Map<string, number>();
  buckets: readonly BucketSpec[] = [];
  /** The buckets and the provisional ones they lack (see {@link PROVISIONAL}), until anything is learned. */
  #provisional: readonly BucketSpec[] = [];
  /** Tenants met on the lane, with their sub-limits (only when the engine has `tenantLimits`). */
  readonly tenants = new Map<string, Tenant>();
  /** Tenants met before the next sweep of idle ones. */
  tenantSweepAt = 1024;
  /** Requests sent and not yet answered (headers). */
  awaiting = 0;
  /** Requests holding a concurrency slot. */
  inFlight = 0;
  mode: OwnMode;
  consecutive429 = 0;
  /** Multiplier < 1 after `slow_down` answers and persistent 429s, recovering on successes. */
  pace = 1;
  typicalCompletion: number;
  pumping = false;
  wake: (() => void) | undefined;
  lastUsed = 0;
  /** The version of the store's learned limits this lane holds (0: none read or written yet). */
  learnedVersion = 0;
  /** A read of the store's learned limits on its way. */
  syncing: Promise<void> | undefined;
  /** This process's admission was a shared trip's probe: a success untrips the lane in the store. */
  sharedProbe = false;

  constructor(
    readonly id: string,
    readonly ref: LaneRef,
    public config: LimitsConfig | undefined,
    readonly learn: boolean,
    typicalCompletion: number,
    readonly safetyMarginMs: number,
  ) {
    this.typicalCompletion = typicalCompletion;
    this.mode = this.#initialMode();
    this.rebuild();
  }

  /**
   * Until the server has answered once, one request at a time: even with configured limits the server's
   * real burst may be shorter, and the first answer's headers tell.
   */
  #initialMode(): OwnMode {
    return this.learn ? PROBING_START : OPEN;
  }

  /**
   * Takes new configured limits (a reconfiguration): what was learned, tightened and paced stays, and so
   * do the bucket ids, so the store's levels carry over.
   */
  configure(config: LimitsConfig | undefined): void {
    this.config = config;
    this.rebuild();
  }

  /** Recomputes the effective buckets: configured ∩ learned ∩ tightened, scaled by the pace. */
  rebuild(): void {
    const specs = new Map<string, BucketSpec>();
    const add = (spec: BucketSpec) => {
      const prior = specs.get(spec.id);
      specs.set(
        spec.id,
        prior
          ? {
              ...prior,
              limit: Math.min(prior.limit, spec.limit),
              capacity: Math.min(prior.capacity, spec.capacity),
            }
          : spec,
      );
    };
    for (const spec of configuredBuckets(this.config)) add(spec);
    for (const spec of this.learned.values()) add(spec);
    const out: BucketSpec[] = [];
    for (const spec of specs.values()) {
      const tight = this.tightened.get(spec.id);
      const capacity = Math.min(spec.capacity, tight ?? Infinity) * this.pace;
      const limit = spec.limit * this.pace;
      out.push({
        ...spec,
        limit,
        capacity: Math.max(1, capacity),
        margin: (limit * this.safetyMarginMs) / spec.windowMs,
      });
    }
    this.buckets = out;
    this.#provisional =
      this.learn && this.learned.size === 0
        ? [...out, ...PROVISIONAL.filter((p) => !out.some((b) => b.id === p.id))]
        : out;
  }

  /**
   * What one admission charges in the store: the buckets, and until the server has answered once (the
   * start's probing), provisional ones for the per-minute dimensions they lack. A server that answers
   * without rate-limit headers leaves nothing to learn: after its first answer nothing provisional is
   * charged.
   */
  get charged(): readonly BucketSpec[] {
    return this.mode === PROBING_START ? this.#provisional : this.buckets;
  }

  /** Whether the concurrency gate lets one more request go now. */
  gateOpen(): boolean {
    if (this.mode.kind === 'probing' && this.awaiting > 0) return false;
    const max = this.config?.maxConcurrency;
    return !max || this.inFlight < max;
  }

  /** Whether the quota breaker holds the lane (tripped, or probing whether the quota is back). */
  get held(): boolean {
    return (
      this.mode.kind === 'tripped' || (this.mode.kind === 'probing' && this.mode.reason === 'quota_probe')
    );
  }

  /** A success: the lane is open. Returns whether the breaker held it until now. */
  succeeded(): boolean {
    const held = this.held;
    this.mode = OPEN;
    return held;
  }

  /**
   * A fatal answer (400, 401, …): the server has answered, so probing ends; a quota probe proves nothing
   * about the quota, and the lane stays tripped.
   */
  answeredFatal(): void {
    if (this.mode.kind === 'probing')
      this.mode = this.mode.reason === 'quota_probe' ? tripped(this.mode) : OPEN;
  }

  /** A 429: one request at a time until a success. A lane the breaker holds stays tripped. */
  rateLimited(): void {
    if (this.mode.kind === 'tripped') return;
    this.mode =
      this.mode.kind === 'probing' && this.mode.reason === 'quota_probe'
        ? tripped(this.mode)
        : PROBING_RATE_LIMITED;
  }

  /** An operator reset: a lane the breaker held starts again as a new lane does. */
  restart(): void {
    if (this.held) this.mode = this.#initialMode();
  }

  /** The lane as `engine.stats()` shows it, given the store's view of it. */
  stats(snapshot: LaneSnapshot, now: number): LaneStats {
    return {
      lane: this.id,
      model: this.ref.model,
      upstream: this.ref.upstream,
      queued: this.queue.size,
      queuedByPriority: this.queue.sizes(),
      inFlight: this.inFlight,
      mode: publicMode(this.mode, snapshot.cooldownUntil, now),
      tripped: this.held,
      cooldownUntil: snapshot.cooldownUntil,
      buckets: this.buckets.map((b) => ({ ...b, level: snapshot.levels[b.id] ?? 0 })),
    };
  }
}

function tripped(hold: Hold): OwnMode {
  return { kind: 'tripped', reason: hold.error.message, error: hold.error, probeAt: hold.probeAt };
}

/** The mode as reported: the breaker's hold first, then the store's cooldown, then the lane's own mode. */
function publicMode(mode: OwnMode, cooldownUntil: number, now: number): LaneMode {
  if (mode.kind === 'tripped') return { kind: 'tripped', reason: mode.reason, probeAt: mode.probeAt };
  if (mode.kind === 'probing' && mode.reason === 'quota_probe')
    return { kind: 'probing', reason: mode.reason };
  if (cooldownUntil > now) return { kind: 'cooling', until: cooldownUntil };
  return mode.kind === 'open' ? { kind: 'open' } : { kind: 'probing', reason: mode.reason };
}
