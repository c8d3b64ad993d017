import type { ReplicaStore } from "../store/store";

/**
 * Who may write to the store: one small object under the prefix, written only with conditional requests, so of
 * any number of nodes racing for it exactly one wins (the store's contract). Modelled on Litestream 0.5's
 * leaser and LiteFS's lease: a holder, an epoch that increases every time the lease changes hands, an expiry.
 *
 * Clocks: the holder writes `expiresAt` by its clock; another node takes an expired lease only `maxSkewMs`
 * after that by its own. Safe while the nodes' clocks differ by less than maxSkewMs (`doctor` measures the
 * skew). The holder itself never relies on the wall clock to stop writing: it fences itself by a monotonic
 * deadline counted from the moment it sent its last successful renewal.
 */
export interface LeaseRecord {
  version: 1;
  holder: string;
  /** Increases every time the lease changes hands; a node's uploads belong to the epoch it held. */
  epoch: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  ttlMs: number;
  /**
   * A switchover in progress: the holder stopped writing, published its final positions and offers the lease to
   * this node, which alone may take it (live) once it has applied them. The holder keeps renewing meanwhile, so
   * nobody else can take it; it clears this when the candidate does not come in time.
   */
  handoffTo?: string;
}

export function leaseKey(prefix: string): string {
  return `${prefix}.understudy/lease.json`;
}

/** Another node holds a live lease. */
export class LeaseHeldError extends Error {
  constructor(
    readonly record: LeaseRecord,
    readonly remainingMs: number,
  ) {
    super(
      `the lease is held by ${record.holder} (epoch ${record.epoch}) for another ${Math.max(0, Math.round(remainingMs / 1000))}s`,
    );
    this.name = "LeaseHeldError";
  }
}

/** This node held the lease and does no more: another node took it (or it is gone). */
export class LeaseLostError extends Error {
  constructor(readonly record: LeaseRecord | undefined) {
    super(
      record
        ? `the lease was taken by ${record.holder} (epoch ${record.epoch})`
        : "the lease object is gone from the store",
    );
    this.name = "LeaseLostError";
  }
}

/** The lease changed after the caller decided on it: another node took it (or renewed it) meanwhile. */
export class LeaseChangedError extends Error {
  constructor(readonly record: LeaseRecord | undefined) {
    super(
      record
        ? `the lease changed meanwhile: ${record.holder} holds it at epoch ${record.epoch}`
        : "the lease changed meanwhile: it is gone",
    );
    this.name = "LeaseChangedError";
  }
}

export interface LeaseOptions {
  ttlMs: number;
  maxSkewMs: number;
  /** Wall clock, for tests. */
  now?: () => number;
}

export class Lease {
  private etag?: string;
  /** The record as this node last wrote it, while it holds the lease. */
  held?: LeaseRecord;

  constructor(
    private readonly store: ReplicaStore,
    private readonly prefix: string,
    readonly node: string,
    private readonly o: LeaseOptions,
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  get key(): string {
    return leaseKey(this.prefix);
  }

  /** The lease as it stands; undefined when there is none. A record that is not a lease is an error. */
  async read(): Promise<{ record?: LeaseRecord; etag?: string }> {
    const v = await this.store.getVersioned(this.key);
    if (!v) return {};
    return { record: parseLease(v.body, this.key), etag: v.etag };
  }

  /** Whether a record's holder may still be writing, by this node's clock with the skew allowance. */
  live(r: LeaseRecord): boolean {
    return this.now() <= Date.parse(r.expiresAt) + this.o.maxSkewMs;
  }

  /**
   * Takes the lease when there is none, when it is this node's already (same epoch: nobody wrote in between),
   * or when it has expired (next epoch); `force` takes a live one too. LeaseHeldError when another node holds
   * it; of concurrent callers exactly one succeeds. `handoff` takes a live lease its holder offers this node.
   * `expect` (the ETag the caller checked, "" for none) takes it only if nobody wrote it since: a promotion
   * decides on the lease it saw, and of two promotions that saw the same one only the first may win, forced or
   * not (LeaseChangedError for the other).
   */
  async acquire(opts: { force?: boolean; handoff?: boolean; expect?: string } = {}): Promise<LeaseRecord> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const now = this.now();
      const cur = await this.read();
      if (opts.expect !== undefined && (cur.etag ?? "") !== opts.expect) throw new LeaseChangedError(cur.record);
      const fresh = (epoch: number, acquiredAt: string): LeaseRecord => ({
        version: 1,
        holder: this.node,
        epoch,
        acquiredAt,
        renewedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + this.o.ttlMs).toISOString(),
        ttlMs: this.o.ttlMs,
      });
      let next: LeaseRecord;
      let etag: string | undefined;
      if (!cur.record) {
        next = fresh(1, new Date(now).toISOString());
        etag = await this.store.createIfAbsent(this.key, encode(next));
      } else {
        const r = cur.record;
        const ours = r.holder === this.node;
        const offered = opts.handoff && r.handoffTo === this.node;
        if (opts.handoff && !offered && !opts.force)
          throw new Error(`${r.holder} does not offer the lease to ${this.node} (epoch ${r.epoch})`);
        if (!ours && this.live(r) && !opts.force && !offered)
          throw new LeaseHeldError(r, Date.parse(r.expiresAt) + this.o.maxSkewMs - now);
        next = ours && !offered ? fresh(r.epoch, r.acquiredAt) : fresh(r.epoch + 1, new Date(now).toISOString());
        etag = await this.store.replaceIfUnchanged(this.key, encode(next), cur.etag as string);
      }
      if (etag) {
        this.etag = etag;
        this.held = next;
        return next;
      }
      // Someone wrote in between: look again (they may now hold it).
    }
    throw new Error(`${this.key}: could not take the lease: it kept changing`);
  }

  /**
   * Extends the lease this node holds; `handoffTo` offers it to that node (a switchover), null withdraws the
   * offer, undefined keeps what was there. LeaseLostError when another node has written it since (it was taken);
   * any other error (the store did not answer) is the caller's to retry until its fencing deadline.
   */
  async renew(handoffTo?: string | null): Promise<LeaseRecord> {
    const held = this.held;
    if (!held || !this.etag) throw new LeaseLostError(undefined);
    const now = this.now();
    const next: LeaseRecord = {
      ...held,
      renewedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.o.ttlMs).toISOString(),
    };
    if (handoffTo === null) delete next.handoffTo;
    else if (handoffTo) next.handoffTo = handoffTo;
    const etag = await this.store.replaceIfUnchanged(this.key, encode(next), this.etag);
    if (etag) {
      this.etag = etag;
      this.held = next;
      return next;
    }
    const cur = await this.read();
    this.held = undefined;
    throw new LeaseLostError(cur.record);
  }

  /** Lets the lease go now (a planned stop or switchover): it expires at once, the epoch stays. */
  async release(): Promise<void> {
    const held = this.held;
    if (!held || !this.etag) return;
    const now = new Date(this.now()).toISOString();
    await this.store.replaceIfUnchanged(this.key, encode({ ...held, renewedAt: now, expiresAt: now }), this.etag);
    this.held = undefined;
    this.etag = undefined;
  }
}

function encode(r: LeaseRecord): Buffer {
  return Buffer.from(`${JSON.stringify(r)}\n`);
}

export function parseLease(body: Buffer, key: string): LeaseRecord {
  let r: LeaseRecord;
  try {
    r = JSON.parse(body.toString("utf8")) as LeaseRecord;
  } catch (e) {
    throw new Error(`${key}: not a lease (${(e as Error).message})`);
  }
  if (r?.version !== 1 || typeof r.holder !== "string" || !Number.isInteger(r.epoch) || !Date.parse(r.expiresAt))
    throw new Error(`${key}: not a lease understudy wrote`);
  return r;
}
