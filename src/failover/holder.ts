import { existsSync, readFileSync } from "node:fs";
import type { Logger } from "pino";
import { writeFileAtomic } from "../util/atomic";
import { UserError } from "../util/errors";
import { withTimeout } from "../util/timeout";
import { type Lease, LeaseLostError, type LeaseRecord } from "./lease";

export interface HolderState {
  holder?: string;
  epoch?: number;
  expiresAt?: string;
  /** Why this node stopped writing, while it does not hold the lease. */
  fenced?: string;
  /** Permanent: another node took the lease; only `rejoin` brings this node back. */
  superseded?: boolean;
  /** A switchover offers the lease to this node. */
  offeredTo?: string;
}

export interface HolderOptions {
  ttlMs: number;
  log: Logger;
  /** Where this node records the last epoch it held, to know on its return whether it was superseded. */
  epochFile: string;
  /** Stop writing now (stop Litestream, run the demote hook); awaited before the lease can expire. */
  onFence: (why: string) => Promise<void>;
  /** The lease is this node's again after the store came back: resume writing. */
  onResume: () => Promise<void>;
}

/** The last epoch this node held (undefined: none since it last rejoined, or never). */
export function readEpochFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(n) ? n : undefined;
}

/**
 * The primary's side of the lease: takes it before anything is uploaded, renews it every third of its TTL, and
 * fences the node — stops its writers — when it cannot renew for two thirds of the TTL (the store is
 * unreachable from here) or finds the lease taken. Fencing runs on a monotonic clock from the moment the last
 * successful renewal was sent, so it completes before the lease expires whatever this machine's wall clock
 * does. A node only ever takes a lease that is free or already its own; taking over from another node is
 * promotion's business, after it has applied what that node uploaded.
 */
export class LeaseHolder {
  private timer?: NodeJS.Timeout;
  private fenceAt = 0;
  private fenceTimer?: NodeJS.Timeout;
  private busy = false;
  readonly state: HolderState = {};

  constructor(
    private readonly lease: Lease,
    private readonly o: HolderOptions,
  ) {}

  private lastEpoch(): number | undefined {
    return readEpochFile(this.o.epochFile);
  }

  private took(r: LeaseRecord, sentAt: number): void {
    this.fenceAt = sentAt + (this.o.ttlMs * 2) / 3;
    Object.assign(this.state, { holder: r.holder, epoch: r.epoch, expiresAt: r.expiresAt, fenced: undefined });
    // The deadline is a timer of its own: a renewal that hangs (a partition that drops packets rather than
    // refusing them) must not hold the fence back, whatever the request does.
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.fenceTimer = setTimeout(
      () =>
        void this.fence(
          `cannot renew the lease: no successful renewal for ${Math.round((this.o.ttlMs * 2) / 3000)}s; stopped writing before it expires`,
        ),
      Math.max(0, this.fenceAt - performance.now()),
    );
  }

  /** Takes the lease (UserError saying who holds it and what to do when this node may not), then keeps it. */
  async start(): Promise<LeaseRecord> {
    const { record } = await this.lease.read();
    if (record && record.holder !== this.lease.node) {
      const last = this.lastEpoch();
      throw new UserError(
        last !== undefined && record.epoch > last
          ? `this node (${this.lease.node}) was superseded: ${record.holder} holds the lease at epoch ${record.epoch}, after this node's epoch ${last}. Its databases may hold writes the new primary never saw: run \`understudy rejoin\` to set them aside and follow ${record.holder}`
          : `${record.holder} holds the lease (epoch ${record.epoch}, ${this.lease.live(record) ? `until ${record.expiresAt}` : "expired"}): ${record.holder} is the primary, not ${this.lease.node}. Only \`understudy promote\` takes the lease from another node`,
      );
    }
    const sent = performance.now();
    const r = await this.lease.acquire();
    writeFileAtomic(this.o.epochFile, `${r.epoch}\n`);
    this.took(r, sent);
    this.o.log.info({ epoch: r.epoch, expiresAt: r.expiresAt }, "holding the lease");
    this.timer = setInterval(() => void this.tick(), this.o.ttlMs / 3);
    return r;
  }

  private async tick(): Promise<void> {
    if (this.busy || this.state.superseded) return;
    this.busy = true;
    try {
      if (this.state.fenced) await this.tryResume();
      else await this.renew();
    } finally {
      this.busy = false;
    }
  }

  /** Runs `fn` between renewals, never beside one: both write the lease conditionally on the same ETag. */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }

  /**
   * Offers the lease to `to` (a switchover; `null` withdraws the offer). The lease stays live and renewed, so only
   * `to` can take it. LeaseLostError when it was taken meanwhile (by `to`, normally): then this node is superseded.
   */
  async offer(to: string | null): Promise<LeaseRecord> {
    return this.exclusive(async () => {
      const sent = performance.now();
      try {
        const r = await this.lease.renew(to);
        this.took(r, sent);
        this.state.offeredTo = r.handoffTo;
        return r;
      } catch (e) {
        if (e instanceof LeaseLostError && e.record && e.record.holder !== this.lease.node) this.supersede(e.record);
        throw e;
      }
    });
  }

  /** The lease as it stands, taken by another node (this node becomes superseded) or still this node's. */
  async check(): Promise<LeaseRecord | undefined> {
    const { record } = await this.lease.read();
    if (record && record.holder !== this.lease.node && !this.state.superseded)
      await this.fence(
        `the lease was taken by ${record.holder} (epoch ${record.epoch}); this node stopped writing`,
        record,
      );
    return record;
  }

  private async renew(): Promise<void> {
    const sent = performance.now();
    try {
      const r = await withTimeout(this.lease.renew(), this.o.ttlMs / 3, "no answer from the store");
      // Fenced meanwhile by the deadline: resuming (Litestream, hooks) is tryResume's, not a late answer's.
      if (this.state.fenced) return;
      this.took(r, sent);
    } catch (e) {
      if (e instanceof LeaseLostError) return this.fence(`${e.message}; this node stopped writing`, e.record);
      const left = Math.round((this.fenceAt - performance.now()) / 1000);
      if (left > 0) this.o.log.warn({ err: (e as Error).message }, `cannot renew the lease; fencing in ${left}s`);
      else await this.fence(`cannot renew the lease (${(e as Error).message}); stopped writing before it expires`);
    }
  }

  /** After a fence for an unreachable store: the lease may still be this node's, untouched. */
  private async tryResume(): Promise<void> {
    try {
      const { record } = await withTimeout(this.lease.read(), this.o.ttlMs / 3, "no answer from the store");
      if (record && record.holder !== this.lease.node) return this.supersede(record);
      const sent = performance.now();
      const r = await withTimeout(this.lease.acquire(), this.o.ttlMs / 3, "no answer from the store");
      this.took(r, sent);
      this.o.log.info({ epoch: r.epoch }, "the lease is this node's again; resuming");
      await this.o.onResume();
    } catch (e) {
      this.o.log.debug({ err: (e as Error).message }, "still fenced");
    }
  }

  /** Stops this node's writers; `takenBy` (the lease as another node wrote it) makes the fence permanent. */
  private async fence(why: string, takenBy?: LeaseRecord): Promise<void> {
    if (this.state.fenced) return;
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.state.fenced = why;
    this.o.log.error({ epoch: this.state.epoch }, why);
    if (takenBy && takenBy.holder !== this.lease.node) this.supersede(takenBy);
    await this.o.onFence(why);
  }

  private supersede(r: LeaseRecord): void {
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    this.state.superseded = true;
    this.state.fenced = `${r.holder} took the lease at epoch ${r.epoch}; this node stays fenced until \`understudy rejoin\``;
    this.state.holder = r.holder;
    this.state.epoch = r.epoch;
    this.state.expiresAt = r.expiresAt;
    if (this.timer) clearInterval(this.timer);
  }

  /** Stops renewing and lets the lease go (a planned stop: it expires at once, the epoch stays). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.fenceTimer) clearTimeout(this.fenceTimer);
    if (!this.state.fenced) await this.lease.release().catch(() => undefined);
  }
}
