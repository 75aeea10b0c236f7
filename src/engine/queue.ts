/**
 * The order in which waiting requests of one lane are admitted: priority class first, then weighted fair
 * share between tenants, then FIFO.
 *
 * Both levels use stride scheduling: each class (and each tenant inside a class) carries a virtual "pass";
 * the smallest pass goes next and advances by cost ÷ weight. Class weights are steep (interactive 1000,
 * default 30, batch 1), so an interactive request overtakes a flood of batch work at once — it waits at
 * most for the one admission already decided — while lower classes still get a small guaranteed share
 * and are never starved. A class or tenant that becomes active again starts at the current virtual time,
 * so idling does not bank credit.
 *
 * A tenant can be *held* until a time (its own sub-limit is spent) or until released (its own concurrency
 * is used up): its entries, in every class, are skipped, and the next eligible entry goes instead — another
 * tenant's, or a lower class's — so one tenant over its sub-limit never holds up the lane. Being held is
 * treated as being idle: a held class or tenant comes back at the current virtual time, so it cannot
 * make up for the admissions it missed by overtaking the others in a burst.
 */
import type { Priority } from './events.js';

export const CLASS_WEIGHTS: Readonly<Record<Priority, number>> = Object.freeze({
  interactive: 1000,
  default: 30,
  batch: 1,
});

/** What the queue needs to know about an entry. */
export interface Queued {
  priority: Priority;
  tenant: string;
  /** Tenant weight (≥ 0.01), from a virtual key or 1. */
  weight: number;
  /** Fair-share cost of the entry (tokens, or 1 when the cost is unknown). */
  share: number;
  /** Set when the entry left the queue by other means (abort, deadline); it is skipped lazily. */
  cancelled: boolean;
}

class Fifo<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }
  push(item: T): void {
    this.#items.push(item);
  }
  unshift(item: T): void {
    if (this.#head > 0) this.#items[--this.#head] = item;
    else this.#items.unshift(item);
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  shift(): T | undefined {
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.#head; i < this.#items.length; i++) yield this.#items[i]!;
  }
}

interface TenantQueue<T> {
  name: string;
  pass: number;
  items: Fifo<T>;
}

interface ClassQueue<T> {
  priority: Priority;
  pass: number;
  vt: number;
  size: number;
  tenants: Map<string, TenantQueue<T>>;
}

export class AdmissionQueue<T extends Queued> {
  readonly #classes: ClassQueue<T>[];
  #vt = 0;
  #size = 0;
  /** Held tenants: until when (epoch ms, `Infinity` until {@link unhold}). */
  readonly #holds = new Map<string, number>();

  constructor() {
    this.#classes = (['interactive', 'default', 'batch'] as const).map((priority) => ({
      priority,
      pass: 0,
      vt: 0,
      size: 0,
      tenants: new Map(),
    }));
  }

  /** Live (not cancelled) entries. */
  get size(): number {
    return this.#size;
  }

  /** Live entries of one class. */
  classSize(priority: Priority): number {
    return this.#class(priority).size;
  }

  /** Live entries of each class, without walking the queue. */
  sizes(): Record<Priority, number> {
    const [interactive, normal, batch] = this.#classes;
    return { interactive: interactive!.size, default: normal!.size, batch: batch!.size };
  }

  #class(priority: Priority): ClassQueue<T> {
    return this.#classes[priority === 'interactive' ? 0 : priority === 'default' ? 1 : 2]!;
  }

  /** Adds an entry at the back of its tenant's queue, or at the front when it is being put back. */
  add(entry: T, front = false): void {
    const cls = this.#class(entry.priority);
    if (cls.size === 0) cls.pass = Math.max(cls.pass, this.#vt);
    let tenant = cls.tenants.get(entry.tenant);
    if (!tenant) {
      tenant = { name: entry.tenant, pass: cls.vt, items: new Fifo() };
      cls.tenants.set(entry.tenant, tenant);
    } else if (tenant.items.size === 0) {
      tenant.pass = Math.max(tenant.pass, cls.vt);
    }
    if (front) tenant.items.unshift(entry);
    else tenant.items.push(entry);
    cls.size++;
    this.#size++;
  }

  /** Marks an entry as gone; it no longer counts and is dropped when reached. */
  cancel(entry: T): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    this.#class(entry.priority).size--;
    if (--this.#size === 0) this.#holds.clear();
  }

  /**
   * Skips `tenant`'s entries, in every class, until `until` (epoch ms; `Infinity` until {@link unhold}).
   * A later hold replaces an earlier one. Holds end when the queue empties.
   */
  hold(tenant: string, until: number): void {
    this.#holds.set(tenant, until);
  }

  /** Ends a tenant's hold (a concurrency slot of its own came free). */
  unhold(tenant: string): void {
    this.#holds.delete(tenant);
  }

  /** Ends every hold (the limits changed). */
  unholdAll(): void {
    this.#holds.clear();
  }

  /** The earliest time after `now` at which a hold ends: `Infinity` when none ends by itself. */
  holdEnd(now: number): number {
    let end = Infinity;
    for (const [tenant, until] of this.#holds) {
      if (until <= now) this.#holds.delete(tenant);
      else if (until < end) end = until;
    }
    return end;
  }

  /** Whether `tenant` is held at `now`; a hold that has ended is forgotten. */
  #held(tenant: string, now: number): boolean {
    const until = this.#holds.get(tenant);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#holds.delete(tenant);
    return false;
  }

  /**
   * The class and tenant whose entry goes next at `now`: the class with the smallest pass that has an
   * entry of a tenant not held, and in it the tenant with the smallest pass. Passes are read as at least
   * the current virtual time (a no-op unless a hold made a class or tenant fall behind it).
   */
  #pick(now: number): [ClassQueue<T>, TenantQueue<T>] | undefined {
    let tried = 0;
    for (;;) {
      let best = -1;
      let pass = Infinity;
      for (let i = 0; i < 3; i++) {
        const c = this.#classes[i]!;
        if (c.size === 0 || tried & (1 << i)) continue;
        const p = Math.max(c.pass, this.#vt);
        if (best < 0 || p < pass) {
          best = i;
          pass = p;
        }
      }
      if (best < 0) return undefined;
      const cls = this.#classes[best]!;
      const tenant = this.#pickTenant(cls, now);
      if (tenant) return [cls, tenant];
      tried |= 1 << best;
    }
  }

  #pickTenant(cls: ClassQueue<T>, now: number): TenantQueue<T> | undefined {
    let best: TenantQueue<T> | undefined;
    let bestPass = Infinity;
    const holds = this.#holds.size > 0;
    for (const [name, tenant] of cls.tenants) {
      while (tenant.items.peek()?.cancelled) tenant.items.shift();
      if (tenant.items.size === 0) {
        if (cls.tenants.size > 64) cls.tenants.delete(name);
        continue;
      }
      if (holds && this.#held(name, now)) continue;
      const pass = Math.max(tenant.pass, cls.vt);
      if (!best || pass < bestPass) {
        best = tenant;
        bestPass = pass;
      }
    }
    return best;
  }

  /**
   * The entry that goes next at `now`, without removing it; `undefined` when the queue is empty or every
   * entry belongs to a held tenant. Without `now`, every hold counts.
   */
  peek(now = -Infinity): T | undefined {
    return this.#pick(now)?.[1].items.peek();
  }

  /** Removes and returns the entry that goes next at `now` (as {@link peek}), advancing the virtual clocks. */
  shift(now = -Infinity): T | undefined {
    const picked = this.#pick(now);
    if (!picked) return undefined;
    const [cls, tenant] = picked;
    const entry = tenant.items.shift()!;
    cls.pass = Math.max(cls.pass, this.#vt);
    tenant.pass = Math.max(tenant.pass, cls.vt);
    this.#vt = cls.pass;
    cls.pass += 1 / CLASS_WEIGHTS[cls.priority];
    cls.vt = tenant.pass;
    tenant.pass += entry.share / Math.max(0.01, entry.weight);
    cls.size--;
    if (--this.#size === 0) this.#holds.clear();
    return entry;
  }

  /**
   * Removes an entry that is going: as {@link shift} when it is the one that goes next at `now`, else as
   * {@link cancel} (it was overtaken while its admission was being decided).
   */
  take(entry: T, now = -Infinity): void {
    if (this.peek(now) === entry) this.shift(now);
    else this.cancel(entry);
  }

  /**
   * Live entries that would go before or with an entry of `priority` (its class and the ones above),
   * leaving out tenants held at `now` other than `tenant` (they wait for their own sub-limit, not in
   * front of anyone).
   */
  *ahead(priority: Priority, tenant?: string, now = -Infinity): Iterable<T> {
    const holds = this.#holds.size > 0;
    for (const cls of this.#classes) {
      for (const [name, t] of cls.tenants) {
        if (holds && name !== tenant && this.#held(name, now)) continue;
        for (const e of t.items) if (!e.cancelled) yield e;
      }
      if (cls.priority === priority) return;
    }
  }

  /** Every live entry, in no particular order, leaving them queued. */
  *entries(): Iterable<T> {
    for (const cls of this.#classes)
      for (const t of cls.tenants.values()) for (const e of t.items) if (!e.cancelled) yield e;
  }

  /** Every live entry, removing them all. */
  drain(): T[] {
    const out: T[] = [];
    for (const cls of this.#classes) {
      for (const tenant of cls.tenants.values()) {
        for (const e of tenant.items) if (!e.cancelled) out.push(e);
        tenant.items = new Fifo();
      }
      cls.size = 0;
    }
    this.#size = 0;
    this.#holds.clear();
    return out;
  }
}
