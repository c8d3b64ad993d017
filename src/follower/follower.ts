import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Logger } from "pino";
import { effective } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { type PositionsManifest, readManifest } from "../replica/manifest";
import type { CountingStore } from "../store/countingStore";
import { replicaPrefix } from "../store/open";
import { DirLock } from "../util/dirLock";
import { closeHttp, listenHttp, safeHandler } from "../util/net";
import { Limiter } from "../util/pool";
import { withTimeout } from "../util/timeout";
import { atOrPast, type CopyContext, FollowedCopy } from "./copy";
import { LockKeeper } from "./lockKeeper";
import { renderFollowMetrics } from "./metrics";
import { FOLLOW_STATE_FILE, type FollowState, writeFollowState } from "./state";

export { FOLLOW_STATE_FILE, type FollowDbPhase, type FollowDbStatus, type FollowState } from "./state";

/** Three missed heartbeats of the primary's manifest. */
export const MANIFEST_STALE_MS = 90_000;
/** A store that answers nothing for this long is treated as unreachable for the round. */
const STORE_TIMEOUT_MS = 15_000;

export interface FollowerOptions {
  log: Logger;
  pollMs?: number;
  /** Without a manifest: how often each database is probed for its next segment. */
  probeMs?: number;
  concurrency?: number;
  /** How old the primary's manifest may be before it is ignored (default 90 s). */
  staleManifestMs?: number;
  /** Most segments applied per database per round, so one busy database cannot starve the rest. */
  maxSegmentsPerRound?: number;
  /** First retry after a stall; doubles up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The standby's role: keeps a live, verified copy of every database whose tier follows, applying only
 * committed transactions from Litestream's replica, one process for the whole fleet.
 */
export class Follower {
  private readonly copies: FollowedCopy[];
  private running = false;
  private loop?: Promise<void>;
  private flusher?: NodeJS.Timeout;
  private locks: DirLock[] = [];
  private manifest?: PositionsManifest;
  private manifestFresh = false;
  private staleWarned = false;
  private staleManifestAgeMs?: number;
  private storeError?: string;
  private readonly inflight = new Set<Promise<void>>();
  private manifestReadAt = 0;
  private readonly limiter: Limiter;
  private readonly startedAt = new Date();
  private stoppedAt?: string;
  private readonly opsWindow: { at: number; counts: CountingStore["counts"] }[] = [];
  private readonly keeper: LockKeeper;
  private server?: Server;
  state: FollowState;

  constructor(
    readonly cfg: UnderstudyConfig,
    readonly node: NodeConfig,
    readonly store: CountingStore,
    private readonly opts: FollowerOptions,
  ) {
    this.limiter = new Limiter(opts.concurrency ?? 8);
    this.keeper = new LockKeeper((why) => opts.log.error({ why }, "lock keeper died; starting another"));
    const ctx: CopyContext = {
      store,
      keeper: this.keeper,
      log: opts.log,
      node,
      retryMinMs: opts.retryMinMs,
      retryMaxMs: opts.retryMaxMs,
      maxSegmentsPerRound: opts.maxSegmentsPerRound,
      manifest: () => this.manifest,
      fresh: () => this.manifestFresh && !this.storeError,
    };
    this.copies = cfg.databases
      .filter((db) => effective(cfg, db).follow)
      .map((db) => new FollowedCopy(db, replicaPrefix(cfg.store, db.replicaPath), ctx));
    this.state = this.snapshotState();
  }

  get stateFile(): string {
    return join(this.node.stateDir, FOLLOW_STATE_FILE);
  }

  private get pollMs(): number {
    return this.opts.pollMs ?? 1000;
  }

  /**
   * Takes the data dir and the state dir (one follower each: two would roll back each other's applies), then
   * starts. Throws UserError with the other follower's pid when either is taken.
   */
  start(): void {
    mkdirSync(join(this.node.stateDir, "follow"), { recursive: true });
    this.locks.push(DirLock.acquire(this.node.dataDir, "follow"));
    try {
      this.locks.push(DirLock.acquire(join(this.node.stateDir, "follow"), "follow"));
    } catch (e) {
      this.releaseLocks();
      throw e;
    }
    this.running = true;
    for (const c of this.copies) c.load();
    // The state file is rewritten on its own clock: a round stuck on a hanging store must not freeze what
    // status and the health endpoint read (lag keeps growing there instead).
    this.flusher = setInterval(() => this.flush(), this.pollMs);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.settle();
    if (this.flusher) clearInterval(this.flusher);
    for (const c of this.copies) await c.close();
    await this.keeper.stop();
    // Said in the file: the process (understudy run) may live on as the primary, and a copy nobody follows any
    // more must not look like a ready standby to the health endpoints.
    this.stoppedAt = new Date().toISOString();
    this.flush();
    this.releaseLocks();
    if (this.server) await closeHttp(this.server);
  }

  /** Prometheus metrics of this follower on /metrics. Rejects when the address is taken or not allowed. */
  async serveMetrics(host: string, port: number): Promise<void> {
    this.server = createServer(
      safeHandler((req, res) => {
        if (req.url === "/metrics") {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
          res.end(renderFollowMetrics(this.state));
        } else res.writeHead(404).end();
      }),
    );
    await listenHttp(this.server, host, port);
  }

  private releaseLocks(): void {
    for (const l of this.locks) l.release();
    this.locks = [];
  }

  private async run(): Promise<void> {
    while (this.running) {
      const t0 = Date.now();
      try {
        await this.round();
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message }, "follow round failed; retrying");
      }
      this.flush();
      const wait = this.pollMs - (Date.now() - t0);
      for (let slept = 0; this.running && slept < wait; slept += 50) await sleep(Math.min(50, wait - slept));
    }
  }

  private async readManifest(): Promise<void> {
    try {
      this.manifest = await withTimeout(
        readManifest(this.store, this.cfg.store.prefix),
        STORE_TIMEOUT_MS,
        `reading the positions manifest: no answer from the store in ${STORE_TIMEOUT_MS / 1000}s`,
      );
      this.manifestReadAt = Date.now();
      if (this.storeError) this.opts.log.info("the store answers again");
      this.storeError = undefined;
    } catch (e) {
      const msg = (e as Error).message;
      if (this.storeError !== msg) this.opts.log.warn({ err: msg }, "cannot read the positions manifest; retrying");
      this.storeError = msg;
      this.manifest = undefined;
      this.manifestFresh = false;
      return;
    }
    // The primary republishes at least every 30 s; an older manifest means it stopped (or Litestream runs
    // without understudy), so it cannot be trusted to announce new segments: probe as if there were none.
    const age = this.manifest ? Date.now() - Date.parse(this.manifest.publishedAt) : 0;
    if (this.manifest && age > (this.opts.staleManifestMs ?? MANIFEST_STALE_MS)) {
      if (!this.staleWarned) this.opts.log.warn({ ageMs: age }, "positions manifest is stale; probing each database");
      this.staleWarned = true;
      this.staleManifestAgeMs = age;
      this.manifest = undefined;
    } else {
      this.staleWarned = false;
      this.staleManifestAgeMs = undefined;
    }
    this.manifestFresh = !!this.manifest;
  }

  /** One pass over the fleet: read the primary's manifest (one GET), then work only where there is news. */
  async round(): Promise<void> {
    await this.readManifest();
    if (this.storeError) return;
    const now = Date.now();
    // Rounds never wait for a database's work: a slow apply or a long bootstrap must not hold back the news
    // for every other database until it finishes.
    for (const t of this.copies) {
      if (t.busy) continue;
      const target = this.manifest?.databases[t.db.replicaPath];
      t.noteTarget(target);
      if (t.hold && now < t.hold.nextAt) continue;
      const pos = t.pos;
      const idle = t.idle();
      if (idle && this.manifest) {
        if (!target && (pos || now < t.nextProbeAt)) {
          t.setPhase(pos ? "following" : "waiting", pos);
          if (now >= t.nextForeignCheckAt) this.spawn(t, () => t.checkForeign());
          continue;
        }
        if (pos && target && atOrPast(pos, target)) {
          t.setPhase("following", pos);
          if (now >= t.nextForeignCheckAt) this.spawn(t, () => t.checkForeign());
          continue;
        }
      } else if (idle && pos && now < t.nextProbeAt) {
        continue;
      }
      t.nextProbeAt = now + (this.opts.probeMs ?? 10_000);
      const seen = this.manifestReadAt;
      const publishedAt = this.manifest ? Date.parse(this.manifest.publishedAt) : Number.NaN;
      this.spawn(t, async () => {
        const started = Date.now();
        const applied = await t.work(target);
        const up = Date.parse(target?.uploadedAt ?? "");
        if (applied && Number.isFinite(up) && Number.isFinite(publishedAt))
          t.status.lastApplyPath = {
            published: publishedAt - up,
            seen: seen - up,
            started: started - up,
            applied: Date.now() - up,
          };
      });
    }
  }

  /** Runs one database's work in the shared limiter; rounds skip the database until it is done. */
  private spawn(t: FollowedCopy, fn: () => Promise<unknown>): void {
    t.busy = true;
    const job = this.limiter
      .run(async () => {
        if (!this.running) return;
        try {
          await fn();
        } catch (e) {
          t.fail(e as Error);
        }
      })
      .finally(() => {
        t.busy = false;
        this.inflight.delete(job);
      });
    this.inflight.add(job);
  }

  /** Keeps the lag clock: since when the primary has had data this copy lacks (from the manifest's timestamps). */
  /** Waits for every database's work in flight, before stop() closes the databases. */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  private snapshotState(): FollowState {
    const now = Date.now();
    const counts = { ...this.store.counts };
    this.opsWindow.push({ at: now, counts });
    while (this.opsWindow.length > 2 && now - this.opsWindow[0].at > 60_000) this.opsWindow.shift();
    const first = this.opsWindow[0];
    const minutes = Math.max((now - first.at) / 60_000, 1 / 60);
    const perMinute: Record<string, number> = {};
    for (const k of Object.keys(counts) as (keyof typeof counts)[])
      perMinute[k] = Math.round(((counts[k] - first.counts[k]) / minutes) * 10) / 10;
    return {
      node: this.node.name,
      pid: process.pid,
      ...(this.stoppedAt ? { stoppedAt: this.stoppedAt } : {}),
      store: this.store.describe(),
      startedAt: this.startedAt.toISOString(),
      updatedAt: new Date(now).toISOString(),
      pollMs: this.pollMs,
      mode: this.manifest ? "manifest" : "probe",
      manifestAgeMs: this.manifest ? now - Date.parse(this.manifest.publishedAt) : undefined,
      staleManifestAgeMs: this.staleManifestAgeMs,
      storeError: this.storeError,
      busy: this.copies.filter((t) => t.busy).length,
      lockKeeperPid: this.keeper?.pid,
      operations: counts,
      operationsPerMinute: perMinute,
      databases: this.copies.map((t) => ({ ...t.status, lagMs: t.lagMs(now) })),
    };
  }

  flush(): void {
    this.state = this.snapshotState();
    try {
      writeFollowState(this.node.stateDir, this.state);
    } catch (e) {
      // A full disk must not stop the follower; status notices the file's age instead.
      this.opts.log.warn({ err: (e as Error).message }, "cannot write the follow state file");
    }
  }
}
