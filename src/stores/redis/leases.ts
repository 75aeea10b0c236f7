/**
 * The concurrency slots this instance leased in Redis and has not released, and their renewal: a lease
 * lives `instanceTtlMs` past its last renewal, so a process that dies gives its slots back by itself.
 */
import { slotsKey, tenantSlotsKey } from './keys.js';
import { SCRIPTS, type ScriptRunner } from './scripts.js';

type Arg = string | number;

export class HeldLeases {
  /** By lane: slot id → the tenant set it is also leased in ('' for none). */
  readonly #byLane = new Map<string, Map<string, string>>();

  hold(lane: string, id: string, tenantSet: string): void {
    let held = this.#byLane.get(lane);
    if (!held) this.#byLane.set(lane, (held = new Map()));
    held.set(id, tenantSet);
  }

  /** Forgets a lease: the tenant set it was also leased in ('' for none), undefined when not held here. */
  take(lane: string, id: string): string | undefined {
    const held = this.#byLane.get(lane);
    const tenantSet = held?.get(id);
    if (tenantSet !== undefined) held!.delete(id);
    if (held?.size === 0) this.#byLane.delete(lane);
    return tenantSet;
  }

  /** Forgets every lease on a lane (it was cleared in Redis). */
  forget(lane: string): void {
    this.#byLane.delete(lane);
  }

  /**
   * Renews every lease held: one script per lane (every held id; one that is not leased on the lane
   * itself is left alone) and one per tenant set with leases here. `head`: renew.lua's ARGV before the ids.
   */
  async renew(runner: ScriptRunner, prefix: string, head: readonly Arg[]): Promise<void> {
    for (const [lane, held] of this.#byLane) {
      if (held.size === 0) continue;
      await runner.run(SCRIPTS.renew, [slotsKey(prefix, lane)], [...head, ...held.keys()]);
      const bySet = new Map<string, string[]>();
      for (const [id, set] of held) {
        if (set === '') continue;
        const ids = bySet.get(set);
        if (ids) ids.push(id);
        else bySet.set(set, [id]);
      }
      for (const [set, ids] of bySet)
        await runner.run(SCRIPTS.renew, [tenantSlotsKey(prefix, lane, set)], [...head, ...ids]);
    }
  }
}
