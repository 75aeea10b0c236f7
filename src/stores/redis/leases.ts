/**
 * The concurrency slots this instance leased in Redis and has not released, and their renewal: a lease
 * lives `instanceTtlMs` past its last renewal, so a process that dies gives its slots back by itself.
 */
import { slotsKey, tenantSlotsKey } from './keys.js';
import { SCRIPTS, type ScriptRunner } from './scripts.js';

type Arg = string | number;

/** Where one slot is leased: in the lane's own set or not, and in a tenant's set ('' for none). */
interface Held {
  inLane: boolean;
  tenantSet: string;
}

export class HeldLeases {
  /** By lane: slot id → where it is leased. */
  readonly #byLane = new Map<string, Map<string, Held>>();

  /** `inLane`: the lane limits concurrency itself (else only the tenant's set holds the slot). */
  hold(lane: string, id: string, tenantSet: string, inLane: boolean): void {
    let held = this.#byLane.get(lane);
    if (!held) this.#byLane.set(lane, (held = new Map()));
    held.set(id, { inLane, tenantSet });
  }

  /** Forgets a lease: the tenant set it was also leased in ('' for none), undefined when not held here. */
  take(lane: string, id: string): string | undefined {
    const held = this.#byLane.get(lane);
    const lease = held?.get(id);
    if (lease) held!.delete(id);
    if (held?.size === 0) this.#byLane.delete(lane);
    return lease?.tenantSet;
  }

  /** Forgets every lease on a lane (it was cleared in Redis). */
  forget(lane: string): void {
    this.#byLane.delete(lane);
  }

  /**
   * Renews every lease held, in the sets that hold it: one script per lane whose own set has leases
   * here, one per tenant set with leases here. `head`: renew.lua's ARGV before the ids.
   */
  async renew(runner: Pick<ScriptRunner, 'run'>, prefix: string, head: readonly Arg[]): Promise<void> {
    for (const [lane, held] of this.#byLane) {
      const inLane: string[] = [];
      const bySet = new Map<string, string[]>();
      for (const [id, { inLane: laneToo, tenantSet }] of held) {
        if (laneToo) inLane.push(id);
        if (tenantSet === '') continue;
        const ids = bySet.get(tenantSet);
        if (ids) ids.push(id);
        else bySet.set(tenantSet, [id]);
      }
      if (inLane.length > 0) await runner.run(SCRIPTS.renew, [slotsKey(prefix, lane)], [...head, ...inLane]);
      for (const [set, ids] of bySet)
        await runner.run(SCRIPTS.renew, [tenantSlotsKey(prefix, lane, set)], [...head, ...ids]);
    }
  }
}
