import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { effective } from "../config/load";
import type { DatabaseConfig, NodeConfig, UnderstudyConfig } from "../config/types";
import { formatPosition, formatWalPosition, hex8, segmentKey, segmentOffset, walPrefix } from "../replica/layout";
import { type ManifestEntry, type PositionsManifest, readManifest } from "../replica/manifest";
import type { CountingStore } from "../store/countingStore";
import { replicaPrefix } from "../store/open";
import { writeFileAtomic } from "../util/atomic";
import { DirLock } from "../util/dirLock";
import { Limiter } from "../util/pool";
import { buildFromReplica, ReplicaGapError } from "./build";
import { type Hold, holdFor, nextAttempt, pastGap } from "./hold";
import { ForeignWriteError, LiveDatabase, RollbackPendingError } from "./liveDatabase";
import { LockKeeper } from "./lockKeeper";
import { decodeLz4Frame } from "./lz4";
import { consumeSegment, type FollowPosition, mergeTransactions, readPosition, writePosition } from "./position";
import type { WalTransaction } from "./wal";

/**
 * following: the copy is current or catching up; waiting: no snapshot to start from yet; bootstrapping: a copy is
 * being built aside; stalled: it cannot advance (a gap or a corrupt segment in the store, a full disk, an error),
 * and the reason is in lastError; damaged: the copy itself failed a check and waits to be rebuilt.
 */
export type FollowDbPhase = "waiting" | "bootstrapping" | "following" | "stalled" | "damaged";

export interface FollowDbStatus {
  name: string;
  tier: string;
  phase: FollowDbPhase;
  generation?: string;
  position?: string;
  /**
   * How long the oldest primary commit the copy lacks has existed, in ms: 0 only when the copy has everything a
   * fresh positions manifest (or, without one, a probe) says the primary has; without either it grows with the
   * time since that was last known. Undefined when there is no copy.
   */
  lagMs?: number;
  lastAppliedAt?: string;
  segmentsApplied: number;
  transactionsApplied: number;
  bootstraps: number;
  lastEvent?: { at: string; message: string };
  /**
   * Where the time went for the last apply, in ms from Litestream's upload: until the primary published it,
   * until this follower read that manifest, until the apply started (queueing), until it was visible.
   */
  lastApplyPath?: { published: number; seen: number; started: number; applied: number };
  lastError?: { at: string; message: string };
  /** When the next attempt past a stall is due (backoff). */
  retryAt?: string;
}

export interface FollowState {
  node: string;
  pid: number;
  store: string;
  startedAt: string;
  updatedAt: string;
  /** How often this state is rewritten: a file older than a few of these means the follower is not reporting. */
  pollMs: number;
  /** Whether the primary publishes positions (no listings needed) or the follower probes on its own. */
  mode: "manifest" | "probe";
  manifestAgeMs?: number;
  /** Set when a manifest exists but is too old to trust. */
  staleManifestAgeMs?: number;
  /** Why the last read of the manifest failed, while it keeps failing. */
  storeError?: string;
  /** Databases with work in flight right now. */
  busy?: number;
  /** The child process that holds SQLite's lock on a copy during each apply. */
  lockKeeperPid?: number;
  operations: CountingStore["counts"];
  operationsPerMinute: Record<string, number>;
  databases: FollowDbStatus[];
}

export const FOLLOW_STATE_FILE = "follow-state.json";
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

interface Tracked {
  db: DatabaseConfig;
  prefix: string;
  path: string;
  positionFile: string;
  status: FollowDbStatus;
  live?: LiveDatabase;
  nextProbeAt: number;
  /** The applied position, mirrored from its file (read once at start, then kept here). */
  pos?: FollowPosition;
  /** Work for this database is in flight; rounds skip it rather than wait for it. */
  busy?: boolean;
  /** The copy passed quick_check (and is ours) since this process started. */
  checked?: boolean;
  /** Set when the copy must be rebuilt from the store (failed quick_check, another writer), with the reason. */
  damaged?: string;
  /** Why the copy cannot advance right now, and when to look again. */
  hold?: Hold;
  /** Since when the copy has known of primary data it lacks (ms since epoch); undefined when it has it all. */
  behindSince?: number;
  /** When the copy was last known to have everything the primary had. */
  currentAt?: number;
  nextForeignCheckAt: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer from the store in ${ms / 1000}s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * The standby's role: keeps a live, verified copy of every database whose tier follows, applying only
 * committed transactions from Litestream's replica, one process for the whole fleet.
 */
export class Follower {
  private readonly tracked: Tracked[];
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
  private readonly opsWindow: { at: number; counts: CountingStore["counts"] }[] = [];
  private readonly keeper: LockKeeper;
  state: FollowState;

  constructor(
    readonly cfg: UnderstudyConfig,
    readonly node: NodeConfig,
    readonly store: CountingStore,
    private readonly opts: FollowerOptions,
  ) {
    this.limiter = new Limiter(opts.concurrency ?? 8);
    this.keeper = new LockKeeper((why) => opts.log.error({ why }, "lock keeper died; starting another"));
    this.tracked = cfg.databases
      .filter((db) => effective(cfg, db).follow)
      .map((db) => ({
        db,
        prefix: replicaPrefix(cfg.store, db.replicaPath),
        path: join(node.dataDir, db.name),
        positionFile: join(node.stateDir, "follow", `${db.name}.position.json`),
        nextProbeAt: 0,
        nextForeignCheckAt: 0,
        status: {
          name: db.name,
          tier: db.tier,
          phase: "waiting",
          segmentsApplied: 0,
          transactionsApplied: 0,
          bootstraps: 0,
        },
      }));
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
    for (const t of this.tracked) {
      rmSync(this.asidePath(t), { force: true });
      t.pos = readPosition(t.positionFile);
    }
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
    for (const t of this.tracked) await t.live?.close();
    await this.keeper.stop();
    this.flush();
    this.releaseLocks();
  }

  private releaseLocks(): void {
    for (const l of this.locks) l.release();
    this.locks = [];
  }

  private asidePath(t: Tracked): string {
    return join(this.node.dataDir, `.${t.db.name}.understudy-bootstrap`);
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
        "reading the positions manifest",
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
    for (const t of this.tracked) {
      if (t.busy) continue;
      const target = this.manifest?.databases[t.db.replicaPath];
      this.noteTarget(t, target);
      if (t.hold && now < t.hold.nextAt) continue;
      const pos = t.pos;
      const idle = t.checked && !t.damaged && !t.hold;
      if (idle && this.manifest) {
        if (!target && (pos || now < t.nextProbeAt)) {
          this.setPhase(t, pos ? "following" : "waiting", pos);
          if (now >= t.nextForeignCheckAt) this.spawn(t, () => this.checkForeign(t));
          continue;
        }
        if (pos && target && atOrPast(pos, target)) {
          this.setPhase(t, "following", pos);
          if (now >= t.nextForeignCheckAt) this.spawn(t, () => this.checkForeign(t));
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
        const applied = await this.work(t, target);
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
  private spawn(t: Tracked, fn: () => Promise<unknown>): void {
    t.busy = true;
    const job = this.limiter
      .run(async () => {
        if (!this.running) return;
        try {
          await fn();
        } catch (e) {
          this.fail(t, e as Error);
        }
      })
      .finally(() => {
        t.busy = false;
        this.inflight.delete(job);
      });
    this.inflight.add(job);
  }

  /** Keeps the lag clock: since when the primary has had data this copy lacks (from the manifest's timestamps). */
  private noteTarget(t: Tracked, target: ManifestEntry | undefined): void {
    if (!this.manifestFresh) return;
    if (t.pos && (!target || atOrPast(t.pos, target))) {
      t.behindSince = undefined;
      t.currentAt = Date.now();
    } else if (target && t.behindSince === undefined) {
      const changed = Date.parse(target.changedAt ?? target.uploadedAt);
      t.behindSince = Math.min(Number.isFinite(changed) ? changed : Date.now(), Date.now());
    }
  }

  /** Waits for every database's work in flight, before stop() closes the databases. */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  /** Everything one database needs this round; true when it applied segments. */
  private async work(t: Tracked, target: ManifestEntry | undefined): Promise<boolean> {
    // A file this follower did not make (no position recorded for it) is never replaced: it may be a primary's
    // live database under a wrong --node or --data-dir, or someone's copy. Left alone until it is moved away.
    if (!t.pos && existsSync(t.path)) {
      if (t.hold?.kind !== "unknown-file")
        this.hold(
          t,
          holdFor(
            "unknown-file",
            `${t.path} exists but this follower did not make it (no position for it in ${t.positionFile}); it is left untouched`,
            undefined,
            undefined,
          ),
        );
      else this.extendHold(t);
      return false;
    }
    if (t.hold?.kind === "unknown-file") this.clearHold(t, `${t.path} was moved away`);
    if (t.hold) {
      const next = await this.pastHold(t, target);
      if (next === "wait") return false;
      if (next === "rebuild") {
        await this.bootstrap(t, `getting past: ${t.hold?.reason ?? "a stall"}`);
        return false;
      }
    }
    if (!t.checked && t.pos && existsSync(t.path)) await this.checkCopy(t);
    if (t.damaged) {
      await this.bootstrap(t, `rebuilding the copy: ${t.damaged}`);
      return false;
    }
    return this.syncOne(t, t.pos, target);
  }

  /**
   * The first look at a copy after start: SQLite rolls back a journal a crash left (opening it read-write does
   * that), the header must be one this follower wrote, and quick_check must pass; otherwise it is rebuilt.
   */
  private async checkCopy(t: Tracked): Promise<void> {
    const hot = existsSync(`${t.path}-journal`);
    t.live ??= new LiveDatabase(t.path, t.pos?.pageSize ?? 4096, this.keeper);
    if (hot && (await t.live.recover())) this.event(t, "rolled back an interrupted apply (hot journal)");
    const foreign = await t.live.foreignChange(t.pos?.counters === true);
    const qc = foreign ? undefined : await t.live.quickCheck();
    t.checked = true;
    t.nextForeignCheckAt = Date.now() + 5000;
    if (foreign) this.markDamaged(t, `another process changed it: ${foreign}`);
    else if (qc !== "ok") this.markDamaged(t, `quick_check failed: ${qc}`);
  }

  /** Between applies: a copy written by anyone else no longer matches the primary and is rebuilt. */
  private async checkForeign(t: Tracked): Promise<void> {
    t.nextForeignCheckAt = Date.now() + 5000;
    if (!t.live || !existsSync(t.path)) return;
    const why = await t.live.foreignChange();
    if (why) this.markDamaged(t, `another process changed it: ${why}`);
  }

  private markDamaged(t: Tracked, why: string): void {
    t.damaged = why;
    t.status.phase = "damaged";
    t.status.lastError = { at: new Date().toISOString(), message: `copy damaged, rebuilding from the store: ${why}` };
    this.opts.log.error({ db: t.db.name, why }, "standby copy damaged; rebuilding it aside from the store");
  }

  /**
   * A held database's retry: at most one GET and one listing, never a rebuild that cannot get past the cause.
   * "go" resumes applying, "rebuild" builds aside from a snapshot past the cause, "wait" backs off further.
   */
  private async pastHold(t: Tracked, target: ManifestEntry | undefined): Promise<"go" | "rebuild" | "wait"> {
    const h = t.hold as Hold;
    // Waiting for a first snapshot: the primary's manifest naming the database means there is one now.
    if (!h.generation && target) return "rebuild";
    if (h.kind === "gap" || h.kind === "corrupt") {
      if (target && h.generation && target.generation !== h.generation) return "rebuild";
      if (h.key) {
        const raw = await this.store.getIfExists(h.key);
        if (raw) {
          try {
            decodeLz4Frame(raw);
            this.clearHold(t, `${h.key} is readable again`);
            return "go";
          } catch {
            // still corrupt: fall through to look for a snapshot past it
          }
        }
      }
      if (await pastGap(this.store, t.prefix, h)) return "rebuild";
      this.extendHold(t);
      return "wait";
    }
    // Disk, damage and other errors: simply try again.
    t.hold = undefined;
    return "go";
  }

  private clearHold(t: Tracked, why: string): void {
    if (!t.hold) return;
    this.event(t, `resumed: ${why}`);
    t.hold = undefined;
    t.status.retryAt = undefined;
    t.status.lastError = undefined;
  }

  private extendHold(t: Tracked): void {
    const h = t.hold as Hold;
    nextAttempt(h, this.opts.retryMinMs, this.opts.retryMaxMs);
    t.status.retryAt = new Date(h.nextAt).toISOString();
    this.opts.log.debug({ db: t.db.name, attempts: h.attempts }, `still held: ${h.reason}`);
  }

  /** Brings one copy forward; true when it applied segments (not a bootstrap or nothing new). */
  private async syncOne(t: Tracked, pos: FollowPosition | undefined, target?: ManifestEntry): Promise<boolean> {
    if (!pos || !existsSync(t.path) || (target && target.generation !== pos.generation)) {
      const why =
        !pos || !existsSync(t.path)
          ? "no local copy yet"
          : `generation ${target?.generation} replaced ${pos.generation}`;
      await this.bootstrap(t, why);
      return false;
    }
    let cur = pos;
    const txs: WalTransaction[] = [];
    let segments = 0;
    let stopped: Hold | undefined;
    let reachedEnd = false;
    const max = this.opts.maxSegmentsPerRound ?? 256;
    // With the primary's manifest, fetch exactly up to where it says; probing past it only costs missing GETs.
    while (segments < max && !(target && atOrPast(cur, target))) {
      // The primary publishes where each recent WAL index ended: at that end, go straight to the next index.
      const end = target?.generation === cur.generation ? target.ends?.[hex8(cur.index)] : undefined;
      if (end !== undefined && end !== cur.offset && cur.offset > end) {
        await this.bootstrap(t, `WAL index ${cur.index.toString(16)} ended at ${end}, before the copy's ${cur.offset}`);
        return false;
      }
      const atEnd = end !== undefined && end === cur.offset && cur.offset > 0;
      let key = segmentKey(t.prefix, cur.generation, cur.index, cur.offset);
      let raw = atEnd ? undefined : await this.store.getIfExists(key);
      if (!raw && cur.offset > 0) {
        const rolled = segmentKey(t.prefix, cur.generation, cur.index + 1, 0);
        raw = await this.store.getIfExists(rolled);
        if (raw) {
          // Litestream moved to the next WAL index. That is only safe to follow if ours ended where we stand;
          // if retention (or a gap) took the rest of it, the copy must be rebuilt instead. When the manifest does
          // not say where it ended, one listing tells.
          const why = atEnd ? undefined : await this.indexIncomplete(t, cur);
          if (why) {
            stopped = holdFor("gap", why, key, cur);
            raw = undefined;
            break;
          }
          key = rolled;
          cur = { ...cur, index: cur.index + 1, offset: 0, chain: undefined, pending: undefined };
        }
      }
      if (!raw) {
        reachedEnd = true;
        break;
      }
      try {
        const res = consumeSegment(cur, decodeLz4Frame(raw));
        txs.push(...res.transactions);
        cur = { ...res.next, sourceUploadedAt: target?.uploadedAt ?? new Date().toISOString() };
        segments++;
      } catch (e) {
        // What came before the bad segment is good and is applied below; the bad one never is.
        stopped = holdFor("corrupt", `corrupt segment not applied: ${key}: ${(e as Error).message}`, key, cur);
        break;
      }
    }
    if (segments > 0) {
      if (txs.length) {
        const merged = mergeTransactions(txs, pos.dbPages);
        t.live ??= new LiveDatabase(t.path, cur.pageSize, this.keeper);
        await t.live.apply(merged.pages, merged.dbPages);
      }
      cur = { ...cur, appliedAt: new Date().toISOString() };
      writePosition(t.positionFile, cur);
      t.pos = cur;
      t.status.segmentsApplied += segments;
      t.status.transactionsApplied += txs.length;
      t.status.lastAppliedAt = cur.appliedAt;
      if (!stopped) t.status.lastError = undefined;
      this.noteTarget(t, target);
    }
    if (!stopped && segments === 0 && target && !atOrPast(cur, target)) {
      // The primary says there is more, but the next segment is not there: retention took it, or a gap.
      const key = segmentKey(t.prefix, cur.generation, cur.index, cur.offset);
      stopped = holdFor(
        "gap",
        `WAL segment ${formatWalPosition(cur.index, cur.offset)} of generation ${cur.generation} is missing from the store while the primary is at ${formatWalPosition(target.index, target.offset)}`,
        key,
        cur,
      );
    }
    if (stopped) {
      this.hold(t, stopped);
      return segments > 0;
    }
    // Probing (no manifest) up to a segment that is not there yet: as of now the copy has what the store has.
    if (!this.manifest && reachedEnd) t.currentAt = Date.now();
    if (t.hold) this.clearHold(t, "applying again");
    this.setPhase(t, "following", cur);
    return segments > 0;
  }

  /** Names the stall once, with what gets past it, and backs off; the copy keeps serving its last good state. */
  private hold(t: Tracked, h: Hold): void {
    const same = t.hold?.reason === h.reason;
    if (same && t.hold) {
      this.extendHold(t);
    } else {
      nextAttempt(h, this.opts.retryMinMs, this.opts.retryMaxMs);
      t.hold = h;
      t.status.retryAt = new Date(h.nextAt).toISOString();
      this.opts.log.error({ db: t.db.name, generation: h.generation, position: h.position, needs: h.needs }, h.reason);
    }
    this.setPhase(t, "stalled", t.pos);
    t.status.lastError = { at: new Date(h.since).toISOString(), message: `${h.reason}; ${h.needs}` };
  }

  /** Why WAL index `cur.index` cannot be left at `cur.offset`, or undefined when it ended exactly there. */
  private async indexIncomplete(t: Tracked, cur: FollowPosition): Promise<string | undefined> {
    const dir = walPrefix(t.prefix, cur.generation, cur.index);
    const offsets: number[] = [];
    for await (const o of this.store.list(dir)) {
      const off = segmentOffset(o.key, dir);
      if (off !== undefined) offsets.push(off);
    }
    if (offsets.some((o) => o >= cur.offset))
      return `WAL index ${hex8(cur.index)} of generation ${cur.generation} has a gap at offset ${cur.offset}`;
    if (offsets.length === 0)
      return `retention removed WAL index ${hex8(cur.index)} of generation ${cur.generation} before the standby had all of it`;
    return undefined;
  }

  private async bootstrap(t: Tracked, why: string): Promise<void> {
    this.setPhase(t, "bootstrapping", undefined);
    this.event(t, `bootstrap: ${why}`);
    const aside = this.asidePath(t);
    try {
      const built = await buildFromReplica(this.store, t.prefix, aside, { stopAtBreak: true });
      const pos = { ...built.position, appliedAt: new Date().toISOString() };
      if (!existsSync(t.path)) {
        await t.live?.close();
        t.live = undefined;
        // The position first: a file in the data dir without one is not this follower's and is never touched,
        // so a crash between the two must leave a position without a file (rebuilt), never the reverse.
        writePosition(t.positionFile, pos);
        renameSync(aside, t.path);
      } else {
        // Readers may have the live file open: bring it to the new state page by page, in one journaled apply.
        if (t.live && t.live.pageSize !== built.position.pageSize) {
          await t.live.close();
          t.live = undefined;
        }
        t.live ??= new LiveDatabase(t.path, built.position.pageSize, this.keeper);
        if (t.damaged) await t.live.reclaim();
        const { pages, dbPages } = await diffPages(aside, t.live);
        await t.live.apply(pages, dbPages, { overwrite: !!t.damaged });
        rmSync(aside, { force: true });
        writePosition(t.positionFile, pos);
      }
      t.pos = pos;
      t.checked = true;
      t.damaged = undefined;
      t.hold = undefined;
      t.status.retryAt = undefined;
      t.status.bootstraps++;
      t.status.segmentsApplied += built.segments;
      t.status.lastAppliedAt = pos.appliedAt;
      t.status.lastError = undefined;
      this.event(t, `bootstrapped from generation ${pos.generation} (snapshot + ${built.segments} segments)`);
      this.noteTarget(t, this.manifest?.databases[t.db.replicaPath]);
      this.setPhase(t, "following", pos);
      // Everything before a break in the chain is in the copy; the break itself is held like any other.
      if (built.broken)
        this.hold(
          t,
          holdFor(
            built.broken.kind,
            built.broken.kind === "gap"
              ? `WAL segment ${formatWalPosition(built.broken.at.index, built.broken.at.offset)} of generation ${built.broken.at.generation} is missing from the store`
              : `corrupt segment not applied: ${built.broken.message}`,
            built.broken.key,
            built.broken.at,
          ),
        );
    } catch (e) {
      rmSync(aside, { force: true });
      if (e instanceof ReplicaGapError) {
        if (!existsSync(t.path)) {
          this.setPhase(t, "waiting", undefined);
          t.status.lastEvent = { at: new Date().toISOString(), message: `waiting: ${e.message}` };
          t.hold = holdFor("gap", e.message, undefined, undefined);
          nextAttempt(t.hold, this.opts.retryMinMs, this.opts.retryMaxMs);
          t.status.phase = "waiting";
          return;
        }
        this.hold(t, holdFor("gap", `cannot rebuild: ${e.message}`, e.key, e.at));
        return;
      }
      throw e;
    }
  }

  private fail(t: Tracked, e: Error): void {
    const at = new Date().toISOString();
    if (e instanceof ForeignWriteError) {
      this.markDamaged(t, `another process changed it: ${e.detail}`);
      return;
    }
    const disk = (e as NodeJS.ErrnoException).code === "ENOSPC";
    const reason = disk
      ? `no space left on the filesystem of ${this.node.dataDir}; the copy keeps its last good state until there is room`
      : e instanceof RollbackPendingError
        ? e.message
        : `follow failed: ${e.message}`;
    const h = holdFor(disk ? "disk" : "error", reason, undefined, t.pos);
    if (t.hold?.reason === reason) this.extendHold(t);
    else {
      nextAttempt(h, this.opts.retryMinMs, this.opts.retryMaxMs);
      t.hold = h;
      t.status.retryAt = new Date(h.nextAt).toISOString();
      this.opts.log.error({ db: t.db.name, err: e.message }, reason);
    }
    t.status.lastError = { at, message: reason };
    this.setPhase(t, "stalled", t.pos);
    // A failed apply puts the original pages back; check that it did before calling the copy good again.
    if (t.live && existsSync(t.path) && !t.live.rollbackPending) t.checked = false;
  }

  private event(t: Tracked, message: string): void {
    t.status.lastEvent = { at: new Date().toISOString(), message };
    this.opts.log.info({ db: t.db.name }, message);
  }

  private setPhase(t: Tracked, phase: FollowDbPhase, pos: FollowPosition | undefined): void {
    if (t.damaged && phase === "following") phase = "damaged";
    t.status.phase = phase;
    if (pos) {
      t.status.generation = pos.generation;
      t.status.position = formatPosition(pos);
    }
  }

  private lagMs(t: Tracked, now: number): number | undefined {
    if (!t.pos) return undefined;
    if (t.behindSince !== undefined) return Math.max(0, now - t.behindSince);
    // Caught up as of the last fresh manifest: current while the manifest stays fresh and readable.
    if (this.manifestFresh && !this.storeError && t.currentAt !== undefined && !t.hold) return 0;
    const since = t.currentAt ?? Date.parse(t.pos.sourceUploadedAt ?? t.pos.appliedAt);
    return Math.max(0, now - since);
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
      store: this.store.describe(),
      startedAt: this.startedAt.toISOString(),
      updatedAt: new Date(now).toISOString(),
      pollMs: this.pollMs,
      mode: this.manifest ? "manifest" : "probe",
      manifestAgeMs: this.manifest ? now - Date.parse(this.manifest.publishedAt) : undefined,
      staleManifestAgeMs: this.staleManifestAgeMs,
      storeError: this.storeError,
      busy: this.tracked.filter((t) => t.busy).length,
      lockKeeperPid: this.keeper?.pid,
      operations: counts,
      operationsPerMinute: perMinute,
      databases: this.tracked.map((t) => ({ ...t.status, lagMs: this.lagMs(t, now) })),
    };
  }

  flush(): void {
    this.state = this.snapshotState();
    try {
      writeFileAtomic(this.stateFile, `${JSON.stringify(this.state)}\n`, 0o644, false);
    } catch (e) {
      // A full disk must not stop the follower; status notices the file's age instead.
      this.opts.log.warn({ err: (e as Error).message }, "cannot write the follow state file");
    }
  }
}

/** Whether the copy has everything the manifest names. It can be past it: the manifest is published at intervals. */
function atOrPast(pos: FollowPosition, target: ManifestEntry): boolean {
  return (
    pos.generation === target.generation &&
    (pos.index > target.index || (pos.index === target.index && pos.offset >= target.offset))
  );
}

/** Pages where the rebuilt file differs from the live copy (read through the copy's own descriptor), and the size. */
async function diffPages(
  fromPath: string,
  live: LiveDatabase,
): Promise<{ pages: Map<number, Buffer>; dbPages: number }> {
  const { open } = await import("node:fs/promises");
  const pageSize = live.pageSize;
  const a = await open(fromPath, "r");
  const pages = new Map<number, Buffer>();
  try {
    const dbPages = Math.floor((await a.stat()).size / pageSize);
    const liveSize = await live.sizeInPages();
    for (let p = 1; p <= dbPages; p++) {
      const x = Buffer.alloc(pageSize);
      const y = Buffer.alloc(pageSize);
      await a.read(x, 0, pageSize, (p - 1) * pageSize);
      if (p <= liveSize) await live.readPage(p, y);
      if (!x.equals(y)) pages.set(p, x);
    }
    return { pages, dbPages };
  } finally {
    await a.close();
  }
}
