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
    this.#size--;
  }

  #pickClass(): ClassQueue<T> | undefined {
    let best: ClassQueue<T> | undefined;
    for (const cls of this.#classes) if (cls.size > 0 && (!best || cls.pass < best.pass)) best = cls;
    return best;
  }

  #pickTenant(cls: ClassQueue<T>): TenantQueue<T> | undefined {
    let best: TenantQueue<T> | undefined;
    for (const [name, tenant] of cls.tenants) {
      while (tenant.items.peek()?.cancelled) tenant.items.shift();
      if (tenant.items.size === 0) {
        if (cls.tenants.size > 64) cls.tenants.delete(name);
        continue;
      }
      if (!best || tenant.pass < best.pass) best = tenant;
    }
    return best;
  }

  /** The entry that goes next, without removing it. */
  peek(): T | undefined {
    const cls = this.#pickClass();
    return cls ? this.#pickTenant(cls)?.items.peek() : undefined;
  }

  /** Removes and returns the entry that goes next, advancing the virtual clocks. */
  shift(): T | undefined {
    const cls = this.#pickClass();
    if (!cls) return undefined;
    const tenant = this.#pickTenant(cls);
    if (!tenant) return undefined;
    const entry = tenant.items.shift()!;
    this.#vt = cls.pass;
    cls.pass += 1 / CLASS_WEIGHTS[cls.priority];
    cls.vt = tenant.pass;
    tenant.pass += entry.share / Math.max(0.01, entry.weight);
    cls.size--;
    this.#size--;
    return entry;
  }

  /** Live entries that would go before or with an entry of `priority` (its class and the ones above). */
  *ahead(priority: Priority): Iterable<T> {
    for (const cls of this.#classes) {
      for (const tenant of cls.tenants.values()) for (const e of tenant.items) if (!e.cancelled) yield e;
      if (cls.priority === priority) return;
    }
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
    return out;
  }
}
