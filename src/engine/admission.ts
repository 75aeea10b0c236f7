/**
 * When a request may go. The fast path admits at once when nothing waits, the gate is open and the
 * store finds room; otherwise the request joins its lane's queue, and one pump per lane admits the
 * queue in order as fast as the buckets allow. Requests that can never fit, would miss their deadline
 * or find the queue full fail at once.
 *
 * A request with a tenant's sub-limits reserves in the lane's buckets and the tenant's in one store
 * call. When the tenant's own bucket (or concurrency) is what holds the head back, the pump holds the
 * tenant in the queue until then and admits the next eligible request instead: one tenant over its
 * sub-limit never blocks the lane.
 *
 * Every reservation carries a claim (see `Claim` in store.ts): the run's priority class, so that in a
 * shared store lower classes of other processes yield while this one's higher class waits; and, on a lane
 * or for a tenant with `maxConcurrency`, a concurrency slot leased in the store (the limit then holds
 * across processes; the local count stays as a first gate that costs no round trip; a tenant whose slots
 * are all leased elsewhere is held like one over its own sub-limit). The answer may also say
 * that another process tripped the lane (adopted here) or learned newer limits (read before the request
 * goes: the reservation is given back and the request waits in line under them).
 */
import type { Breaker } from './breaker.js';
import type { EngineContext } from './context.js';
import type { Lane } from './lane.js';
import type { Learner } from './learn.js';
import { SluiceError } from './errors.js';
import { DIMENSIONS, waitFor, type BucketSpec, type CostVector } from './limits.js';
import { beyondDeadline, pastDeadline, queueFull, tooLarge, waitedOut } from './refusals.js';
import type { Run, Ticket } from './run.js';
import { PRIORITY_RANK, refund, type Claim, type Reservation } from './store.js';

export class Admission {
  readonly #ctx: EngineContext;
  readonly #breaker: Breaker;
  readonly #learner: Learner;

  constructor(ctx: EngineContext, breaker: Breaker, learner: Learner) {
    this.#ctx = ctx;
    this.#breaker = breaker;
    this.#learner = learner;
  }

  /** The claim of the run's next reservation; `last` when no other request of its class waits here. */
  #claim(run: Run<unknown>, last: boolean): Claim {
    const claim: Claim = {
      rank: PRIORITY_RANK[run.priority],
      own: run.tenantState?.buckets.length ?? 0,
      last,
      owner: this.#ctx.owner,
      learned: run.lane.learnedVersion,
    };
    const slot = run.slotClaim(this.#ctx.owner);
    if (slot) claim.slot = slot;
    return claim;
  }

  /** Reads what a reservation says beyond this run: newer learned limits, a lease, a shared probe. */
  #took(run: Run<unknown>, claim: Claim, r: Reservation): void {
    const { lane } = run;
    if (r.learned !== undefined && r.learned > lane.learnedVersion) void this.#learner.sync(lane, r.learned);
    if (!r.ok) return;
    if (claim.slot) run.slot = claim.slot.id;
    if (r.probe) lane.sharedProbe = true;
  }

  /** Gives back what an admission that is not used took: its charge and its lease. */
  async #undo(run: Run<unknown>, buckets: readonly BucketSpec[]): Promise<void> {
    const now = this.#ctx.clock.now();
    if (run.slot !== undefined) {
      void this.#ctx.store.release?.(run.lane.id, run.slot, now);
      run.slot = undefined;
    }
    await refund(this.#ctx.store, run.lane.id, buckets, run.cost, now, run.lane.learnedVersion);
  }

  /**
   * Waits until the run's next attempt may go, then counts it as sent (`admitted`, `sent` events).
   * Rejects with `quota_exhausted` (tripped lane), `request_too_large`, `queue_full`,
   * `deadline_exceeded` or the signal's abort reason.
   */
  async admit(run: Run<unknown>): Promise<void> {
    const { lane } = run;
    const ctx = this.#ctx;
    this.#breaker.check(lane);
    const enqueuedAt = ctx.clock.now();
    try {
      const signal = run.signal;
      if (signal?.aborted) throw signal.reason;
      // Fast path: nothing waits and the gate is open, so the request needs no queue if it fits now.
      let admitted = false;
      if (lane.queue.size === 0 && run.gateOpen()) {
        const buckets = run.buckets;
        const claim = this.#claim(run, true);
        const pending = ctx.store.reserve(lane.id, buckets, run.cost, ctx.clock.now(), claim);
        const reservation = pending instanceof Promise ? await pending : pending;
        this.#took(run, claim, reservation);
        if (lane.syncing && !run.resynced) {
          run.resynced = true;
          // Others learned something this process has not (a smaller burst after their 429, or, on a
          // lane it has learned nothing of yet, the limits): read it first and wait in line under it,
          // rather than send under the older, larger burst (or the configured one, a full minute unless
          // configured) into the server's 429.
          if (reservation.ok) await this.#undo(run, buckets);
          await lane.syncing;
        } else if (reservation.ok && lane.queue.size === 0 && run.gateOpen()) {
          run.occupy();
          admitted = true;
        } else if (reservation.ok) {
          await this.#undo(run, buckets);
        } else if (reservation.waitMs === Infinity) {
          throw tooLarge(run, buckets, reservation.blockedBy);
        } else if (reservation.blockedBy === 'tripped') {
          throw this.#breaker.adopt(lane, reservation, ctx.clock.now(), run.id);
        }
      }
      if (!admitted) {
        if (!run.front && lane.queue.size >= ctx.maxQueue)
          throw queueFull(run, await this.#estimateWait(run));
        const now = ctx.clock.now();
        if (Number.isFinite(run.deadline)) {
          const wait = await this.#estimateWait(run);
          if (now + wait > run.deadline) throw beyondDeadline(run, wait, now);
        }
        await this.#wait(run, now);
      }
    } catch (err) {
      if (err instanceof SluiceError) run.fail(err.code);
      throw err;
    }
    const admittedAt = ctx.clock.now();
    run.queuedMs += admittedAt - enqueuedAt;
    ctx.emit({
      type: 'admitted',
      at: admittedAt,
      lane: lane.id,
      id: run.id,
      waitedMs: admittedAt - enqueuedAt,
      tokens: run.estimatedTokens,
    });
    run.resynced = false;
    run.admitted(admittedAt);
    ctx.emit({ type: 'sent', at: admittedAt, lane: lane.id, id: run.id, attempt: run.attempts });
  }

  /** Puts the run in its lane's queue (at `now`) and resolves when the pump admits it. */
  #wait(run: Run<unknown>, now: number): Promise<void> {
    const { lane } = run;
    const ctx = this.#ctx;
    const signal = run.signal;
    return new Promise<void>((resolve, reject) => {
      const timer = Number.isFinite(run.deadline) ? new AbortController() : undefined;
      const onAbort = () => {
        if (ticket.cancelled) return;
        lane.queue.cancel(ticket);
        ticket.cleanup();
        reject(signal!.reason);
        lane.wake?.();
      };
      const ticket: Ticket = {
        run,
        priority: run.priority,
        tenant: run.tenant,
        weight: run.weight,
        share: run.share,
        cancelled: false,
        resolve,
        reject,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          timer?.abort();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timer) {
        ctx.clock.sleep(run.deadline - now, timer.signal).then(
          () => {
            if (ticket.cancelled) return;
            lane.queue.cancel(ticket);
            ticket.cleanup();
            reject(waitedOut(lane));
            lane.wake?.();
          },
          () => {},
        );
      }
      lane.queue.add(ticket, run.front);
      ctx.emit({
        type: 'queued',
        at: now,
        lane: lane.id,
        id: run.id,
        priority: run.priority,
        tenant: run.tenant,
        tokens: run.cost.tokens ?? 0,
        queueLength: lane.queue.size,
      });
      this.#pump(lane);
    });
  }

  /**
   * A cheap estimate of how long a new entry of this priority would wait (for deadlines and Retry-After):
   * the lane's buckets must fit it and the entries ahead of it (tenants held by their own sub-limits left
   * out), its tenant's buckets it and the tenant's own entries ahead.
   */
  async #estimateWait(run: Run<unknown>): Promise<number> {
    const { lane } = run;
    if (lane.buckets.length === 0 && !run.tenantState?.buckets.length) return 0;
    const buckets = run.buckets;
    const now = this.#ctx.clock.now();
    const snapshot = await this.#ctx.store.snapshot(lane.id, buckets, now, lane.learnedVersion);
    const tenant = run.tenantState;
    const ahead: CostVector = { ...run.cost };
    const own: CostVector = { ...run.cost };
    for (const t of lane.queue.ahead(run.priority, run.tenant, now)) {
      const cost = t.run.cost;
      for (const d of DIMENSIONS) if (cost[d]) ahead[d] = (ahead[d] ?? 0) + cost[d]!;
      if (tenant && t.tenant === run.tenant)
        for (const d of DIMENSIONS) if (cost[d]) own[d] = (own[d] ?? 0) + cost[d]!;
    }
    let wait = Math.max(0, snapshot.cooldownUntil - now);
    const count = (spec: BucketSpec, cost: CostVector) => {
      const over = (snapshot.levels[spec.id] ?? 0) + (cost[spec.dimension] ?? 0) - spec.capacity;
      if (over > 0) wait = Math.max(wait, (over * spec.windowMs) / spec.limit);
    };
    for (const spec of lane.buckets) count(spec, ahead);
    if (tenant) for (const spec of tenant.buckets) count(spec, own);
    return wait;
  }

  /**
   * After a lane's limits changed (`engine.reconfigure()`): fails every queued request that can now never
   * fit with `request_too_large`, ends the tenants' holds (measured against the old buckets) and wakes the
   * pump, so the rest of the queue goes at the new limits.
   */
  recheck(lane: Lane<Ticket>): void {
    const queue = lane.queue;
    queue.unholdAll();
    const never: [Ticket, string][] = [];
    for (const ticket of queue.entries()) {
      const { cost, buckets } = ticket.run;
      const spec = buckets.find((b) => (cost[b.dimension] ?? 0) > b.capacity);
      if (spec) never.push([ticket, spec.id]);
    }
    for (const [ticket, blockedBy] of never) {
      queue.cancel(ticket);
      ticket.cleanup();
      ticket.reject(tooLarge(ticket.run, ticket.run.buckets, blockedBy));
    }
    lane.wake?.();
  }

  /** Admits the lane's waiting requests in order, as fast as its buckets allow. One pump per lane. */
  #pump(lane: Lane<Ticket>): void {
    if (lane.pumping) {
      lane.wake?.();
      return;
    }
    lane.pumping = true;
    void this.#pumpLoop(lane).finally(() => {
      lane.pumping = false;
      if (lane.queue.size > 0) this.#pump(lane);
    });
  }

  async #pumpLoop(lane: Lane<Ticket>): Promise<void> {
    const store = this.#ctx.store;
    const queue = lane.queue;
    while (queue.size > 0) {
      if (!lane.gateOpen()) {
        await this.#waitForWake(lane, Infinity);
        continue;
      }
      const now = this.#ctx.clock.now();
      const head = queue.peek(now);
      if (!head) {
        // Every waiting request is of a tenant held back by its own sub-limit or concurrency.
        await this.#waitForWake(lane, queue.holdEnd(now) - now);
        continue;
      }
      const { run } = head;
      const tenant = run.tenantState;
      if (tenant && !tenant.gateOpen()) {
        queue.hold(head.tenant, Infinity); // until one of its slots frees (`Run.release`)
        continue;
      }
      const cost = run.cost;
      const buckets = run.buckets;
      const claim = this.#claim(run, queue.classSize(run.priority) <= 1);
      let reservation;
      try {
        reservation = await store.reserve(lane.id, buckets, cost, now, claim);
      } catch (err) {
        settle(lane, head, now, err);
        continue;
      }
      this.#took(run, claim, reservation);
      if (head.cancelled || (reservation.ok && lane.syncing && !run.resynced)) {
        // Cancelled meanwhile; or others learned something newer, which the head tries again under.
        if (reservation.ok) await this.#undo(run, buckets);
        if (!head.cancelled) {
          run.resynced = true;
          await lane.syncing;
        }
        continue;
      }
      if (reservation.ok) {
        run.occupy();
        settle(lane, head, now);
      } else if (reservation.waitMs === Infinity) {
        settle(lane, head, now, tooLarge(run, buckets, reservation.blockedBy));
      } else if (reservation.blockedBy === 'tripped') {
        // Another process tripped the lane: everything queued here fails as it would after our own trip.
        this.#breaker.adopt(lane, reservation, now, run.id);
      } else if (now + reservation.waitMs > run.deadline) {
        const own = tenant?.owns(reservation.blockedBy) ? run.tenant : undefined;
        settle(lane, head, now, pastDeadline(lane, reservation.waitMs, own));
      } else {
        const own = await this.#ownWait(run, reservation, now);
        if (own > 0) {
          // The tenant is over its own sub-limit: it waits for that alone, and the others go meanwhile.
          queue.hold(head.tenant, now + own);
        } else if (!head.cancelled) {
          await this.#waitForWake(lane, reservation.waitMs);
        }
      }
    }
  }

  /**
   * How long the run's tenant must wait for its own buckets or slots alone (0 when they have room, or
   * when the lane is cooling down and everyone waits anyway). Costs a store read only when the lane's
   * buckets refused the run for longer.
   */
  async #ownWait(run: Run<unknown>, reservation: Reservation, now: number): Promise<number> {
    const tenant = run.tenantState;
    if (!tenant || reservation.blockedBy === 'cooldown') return 0;
    if (tenant.owns(reservation.blockedBy)) return reservation.waitMs;
    if (tenant.buckets.length === 0) return 0;
    const snapshot = await this.#ctx.store.snapshot(
      run.lane.id,
      tenant.buckets,
      now,
      run.lane.learnedVersion,
    );
    let wait = 0;
    for (const spec of tenant.buckets) {
      const state = { level: snapshot.levels[spec.id] ?? 0, at: now };
      wait = Math.max(wait, waitFor(spec, state, run.cost[spec.dimension] ?? 0, now));
    }
    return wait;
  }

  /** Sleeps until `ms` has passed or something changed on the lane (new entry, a slot freed). */
  #waitForWake(lane: Lane<Ticket>, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = new AbortController();
      const done = () => {
        if (lane.wake === done) lane.wake = undefined;
        timer.abort();
        resolve();
      };
      lane.wake = done;
      if (Number.isFinite(ms)) this.#ctx.clock.sleep(ms, timer.signal).then(done, () => {});
    });
  }
}

/**
 * Takes a ticket out of the queue (the head may have changed while the store answered) and admits it,
 * or rejects it with `error`.
 */
function settle(lane: Lane<Ticket>, ticket: Ticket, now: number, error?: unknown): void {
  lane.queue.take(ticket, now);
  ticket.cleanup();
  if (error === undefined) ticket.resolve();
  else ticket.reject(error);
}
