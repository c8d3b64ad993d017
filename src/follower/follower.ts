import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { effective } from "../config/load";
import type { DatabaseConfig, NodeConfig, UnderstudyConfig } from "../config/types";
import { summarizeReplica } from "../litestream/replicaLayout";
import type { CountingStore } from "../store/countingStore";
import { replicaPrefix } from "../store/open";
import { writeFileAtomic } from "../util/atomic";
import { Limiter } from "../util/pool";
import { buildFromReplica, ReplicaGapError } from "./build";
import { LiveDatabase } from "./liveDatabase";
import { CorruptDataError, decodeLz4Frame } from "./lz4";
import { type ManifestEntry, type PositionsManifest, readManifest } from "./manifest";
import {
  consumeSegment,
  type FollowPosition,
  hex8,
  mergeTransactions,
  readPosition,
  segmentKey,
  writePosition,
} from "./position";
import type { WalTransaction } from "./wal";

export type FollowDbPhase = "waiting" | "bootstrapping" | "following" | "stalled";

export interface FollowDbStatus {
  name: string;
  tier: string;
  phase: FollowDbPhase;
  generation?: string;
  position?: string;
  /** How far the copy trails the newest data in the store (0 when caught up), in ms. */
  lagMs?: number;
  /** Newest change on the primary that the copy does not have yet, when the primary publishes it. */
  behindPrimaryMs?: number;
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
}

export interface FollowState {
  node: string;
  pid: number;
  store: string;
  startedAt: string;
  updatedAt: string;
  /** Whether the primary publishes positions (no listings needed) or the follower probes on its own. */
  mode: "manifest" | "probe";
  manifestAgeMs?: number;
  /** Set when a manifest exists but is too old to trust. */
  staleManifestAgeMs?: number;
  /** Databases with work in flight right now. */
  busy?: number;
  operations: CountingStore["counts"];
  operationsPerMinute: Record<string, number>;
  databases: FollowDbStatus[];
}

export const FOLLOW_STATE_FILE = "follow-state.json";
/** Three missed heartbeats of the primary's manifest. */
export const MANIFEST_STALE_MS = 90_000;

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
}

interface Tracked {
  db: DatabaseConfig;
  prefix: string;
  path: string;
  positionFile: string;
  status: FollowDbStatus;
  live?: LiveDatabase;
  nextProbeAt: number;
  failuresAtKey?: { key: string; count: number };
  /** The applied position, mirrored from its file (read once at start, then kept here). */
  pos?: FollowPosition;
  /** Set after repeated corruption at one key: try a rebuild from the newest snapshot (built aside, so safe). */
  rebuild?: boolean;
  /** Work for this database is in flight; rounds skip it rather than wait for it. */
  busy?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The standby's role: keeps a live, verified copy of every database whose tier follows, applying only
 * committed transactions from Litestream's replica, one process for the whole fleet.
 */
export class Follower {
  private readonly tracked: Tracked[];
  private running = false;
  private loop?: Promise<void>;
  private manifest?: PositionsManifest;
  private staleWarned = false;
  private staleManifestAgeMs?: number;
  private readonly inflight = new Set<Promise<void>>();
  private manifestReadAt = 0;
  private readonly limiter: Limiter;
  private readonly startedAt = new Date();
  private readonly opsWindow: { at: number; counts: CountingStore["counts"] }[] = [];
  state: FollowState;

  constructor(
    readonly cfg: UnderstudyConfig,
    readonly node: NodeConfig,
    readonly store: CountingStore,
    private readonly opts: FollowerOptions,
  ) {
    mkdirSync(node.dataDir, { recursive: true });
    mkdirSync(join(node.stateDir, "follow"), { recursive: true });
    this.limiter = new Limiter(opts.concurrency ?? 8);
    this.tracked = cfg.databases
      .filter((db) => effective(cfg, db).follow)
      .map((db) => ({
        db,
        prefix: replicaPrefix(cfg.store, db.replicaPath),
        path: join(node.dataDir, db.name),
        positionFile: join(node.stateDir, "follow", `${db.name}.position.json`),
        nextProbeAt: 0,
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

  start(): void {
    this.running = true;
    for (const t of this.tracked) {
      // A journal left by a crash mid-apply is rolled back by SQLite before anything else touches the file.
      if (existsSync(t.path) && existsSync(`${t.path}-journal`)) {
        const pos = readPosition(t.positionFile);
        t.pos = pos;
        const live = new LiveDatabase(t.path, pos?.pageSize ?? 4096);
        if (live.recover()) this.event(t, "rolled back an interrupted apply (hot journal)");
        live.close();
      }
      rmSync(this.asidePath(t), { force: true });
      t.pos ??= readPosition(t.positionFile);
    }
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.settle();
    for (const t of this.tracked) t.live?.close();
    this.flush();
  }

  private asidePath(t: Tracked): string {
    return join(this.node.dataDir, `.${t.db.name}.understudy-bootstrap`);
  }

  private async run(): Promise<void> {
    const poll = this.opts.pollMs ?? 1000;
    while (this.running) {
      const t0 = Date.now();
      try {
        await this.round();
      } catch (e) {
        this.opts.log.error({ err: (e as Error).message }, "follow round failed; retrying");
      }
      this.flush();
      const wait = poll - (Date.now() - t0);
      for (let slept = 0; this.running && slept < wait; slept += 50) await sleep(Math.min(50, wait - slept));
    }
  }

  /** One pass over the fleet: read the primary's manifest (one GET), then work only where there is news. */
  async round(): Promise<void> {
    try {
      this.manifest = await readManifest(this.store, this.cfg.store.prefix);
      this.manifestReadAt = Date.now();
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, "cannot read the positions manifest; probing instead");
      this.manifest = undefined;
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
    const now = Date.now();
    // Rounds never wait for a database's work: a slow apply or a long bootstrap must not hold back the news
    // for every other database until it finishes.
    for (const t of this.tracked) {
      if (t.busy) continue;
      const target = this.manifest?.databases[t.db.replicaPath];
      const pos = t.pos;
      if (this.manifest) {
        if (!target && (pos || now < t.nextProbeAt)) {
          this.setPhase(t, pos ? "following" : "waiting", pos, undefined);
          continue;
        }
        if (pos && target && existsSync(t.path) && atOrPast(pos, target)) {
          this.setPhase(t, "following", pos, target);
          continue;
        }
      } else if (pos && existsSync(t.path) && now < t.nextProbeAt) {
        continue;
      }
      t.nextProbeAt = now + (this.opts.probeMs ?? 10_000);
      t.busy = true;
      const seen = this.manifestReadAt;
      const publishedAt = this.manifest ? Date.parse(this.manifest.publishedAt) : Number.NaN;
      const job = this.limiter
        .run(async () => {
          if (!this.running) return;
          const started = Date.now();
          try {
            const applied = await this.syncOne(t, pos, target);
            const up = Date.parse(target?.uploadedAt ?? "");
            if (applied && Number.isFinite(up) && Number.isFinite(publishedAt))
              t.status.lastApplyPath = {
                published: publishedAt - up,
                seen: seen - up,
                started: started - up,
                applied: Date.now() - up,
              };
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
  }

  /** Waits for every database's work in flight, before stop() closes the databases. */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }

  /** Brings one copy forward; true when it applied segments (not a bootstrap or nothing new). */
  private async syncOne(t: Tracked, pos: FollowPosition | undefined, target?: ManifestEntry): Promise<boolean> {
    if (!pos || !existsSync(t.path) || (target && target.generation !== pos.generation) || t.rebuild) {
      const why =
        !pos || !existsSync(t.path)
          ? "no local copy yet"
          : t.rebuild
            ? `rebuilding past ${t.failuresAtKey?.key}`
            : `generation ${target?.generation} replaced ${pos.generation}`;
      t.rebuild = false;
      await this.bootstrap(t, why);
      return false;
    }
    let cur = pos;
    const txs: WalTransaction[] = [];
    let segments = 0;
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
            await this.bootstrap(t, why);
            return false;
          }
          key = rolled;
          cur = { ...cur, index: cur.index + 1, offset: 0, chain: undefined, pending: undefined };
        }
      }
      if (!raw) break;
      let decoded: Buffer;
      try {
        decoded = decodeLz4Frame(raw);
      } catch (e) {
        throw new CorruptDataError(`${key}: ${(e as Error).message}`);
      }
      const res = (() => {
        try {
          return consumeSegment(cur, decoded);
        } catch (e) {
          throw new CorruptDataError(`${key}: ${(e as Error).message}`);
        }
      })();
      txs.push(...res.transactions);
      cur = { ...res.next, sourceUploadedAt: target?.uploadedAt ?? new Date().toISOString() };
      segments++;
    }
    if (segments > 0) {
      if (txs.length) {
        const merged = mergeTransactions(txs, pos.dbPages);
        t.live ??= new LiveDatabase(t.path, cur.pageSize);
        await t.live.apply(merged.pages, merged.dbPages);
      }
      cur = { ...cur, appliedAt: new Date().toISOString() };
      writePosition(t.positionFile, cur);
      t.pos = cur;
      t.status.segmentsApplied += segments;
      t.status.transactionsApplied += txs.length;
      t.status.lastAppliedAt = cur.appliedAt;
      t.failuresAtKey = undefined;
      t.status.lastError = undefined;
    } else if (target && !atOrPast(cur, target)) {
      // The primary says there is more, but the next segment is not there: retention took it, or a gap.
      await this.resync(t, cur, target);
      return false;
    }
    this.setPhase(t, "following", cur, target);
    return segments > 0;
  }

  /** Why WAL index `cur.index` cannot be left at `cur.offset`, or undefined when it ended exactly there. */
  private async indexIncomplete(t: Tracked, cur: FollowPosition): Promise<string | undefined> {
    const prefix = `${t.prefix}/generations/${cur.generation}/wal/${cur.index.toString(16).padStart(8, "0")}_`;
    const offsets: number[] = [];
    for await (const o of this.store.list(prefix))
      offsets.push(parseInt(o.key.slice(prefix.length, prefix.length + 8), 16));
    if (offsets.some((o) => o >= cur.offset))
      return `WAL index ${cur.index.toString(16)} has a gap at offset ${cur.offset}`;
    if (offsets.length === 0)
      return `retention removed WAL index ${cur.index.toString(16)} before the standby had all of it`;
    return undefined;
  }

  /** The next segment is missing while the store has newer data: rebuild from the newest snapshot. */
  private async resync(t: Tracked, cur: FollowPosition, target: ManifestEntry): Promise<void> {
    const summary = await summarizeReplica(this.store, t.prefix);
    const gen = summary.generations.find((g) => g.id === cur.generation);
    const ours = gen?.wal.find((w) => w.index === cur.index && w.offset === cur.offset);
    if (ours) return; // it appeared meanwhile; the next round takes it
    const why = gen
      ? `segment ${cur.index.toString(16)}:${cur.offset} is gone from the store (retention or a gap) while the primary is at ${target.index.toString(16)}:${target.offset}`
      : `generation ${cur.generation} is gone from the store`;
    await this.bootstrap(t, why);
  }

  private async bootstrap(t: Tracked, why: string): Promise<void> {
    this.setPhase(t, "bootstrapping", undefined, undefined);
    this.event(t, `bootstrap: ${why}`);
    const aside = this.asidePath(t);
    try {
      const built = await buildFromReplica(this.store, t.prefix, aside);
      if (!existsSync(t.path)) {
        renameSync(aside, t.path);
      } else {
        // Readers may have the live file open: bring it to the new state page by page, in one journaled apply.
        t.live?.close();
        t.live = new LiveDatabase(t.path, built.position.pageSize);
        const { pages, dbPages } = diffPages(aside, t.path, built.position.pageSize);
        await t.live.apply(pages, dbPages);
        rmSync(aside, { force: true });
      }
      const pos = { ...built.position, appliedAt: new Date().toISOString() };
      writePosition(t.positionFile, pos);
      t.pos = pos;
      t.status.bootstraps++;
      t.status.segmentsApplied += built.segments;
      t.status.lastAppliedAt = pos.appliedAt;
      t.status.lastError = undefined;
      this.event(t, `bootstrapped from generation ${pos.generation} (snapshot + ${built.segments} segments)`);
      this.setPhase(t, "following", pos, this.manifest?.databases[t.db.replicaPath]);
    } catch (e) {
      rmSync(aside, { force: true });
      if (e instanceof ReplicaGapError && !existsSync(t.path)) {
        this.setPhase(t, "waiting", undefined, undefined);
        t.status.lastEvent = { at: new Date().toISOString(), message: `waiting: ${e.message}` };
        return;
      }
      throw e;
    }
  }

  private fail(t: Tracked, e: Error): void {
    const at = new Date().toISOString();
    const corrupt = e instanceof CorruptDataError;
    t.status.lastError = { at, message: `${corrupt ? "corrupt segment not applied: " : ""}${e.message}` };
    t.status.phase = "stalled";
    this.opts.log.error(
      { db: t.db.name, err: e.message, corrupt },
      corrupt ? "corrupt segment; keeping the last good state" : "follow failed; will retry",
    );
    if (corrupt) {
      // Keep a bad key from being fetched every round; a newer snapshot gets us past it if it persists.
      const key = e.message.split(":")[0];
      t.failuresAtKey = t.failuresAtKey?.key === key ? { key, count: t.failuresAtKey.count + 1 } : { key, count: 1 };
      t.rebuild = t.failuresAtKey.count >= 3;
    }
  }

  private event(t: Tracked, message: string): void {
    t.status.lastEvent = { at: new Date().toISOString(), message };
    this.opts.log.info({ db: t.db.name }, message);
  }

  private setPhase(
    t: Tracked,
    phase: FollowDbPhase,
    pos: FollowPosition | undefined,
    target: ManifestEntry | undefined,
  ): void {
    t.status.phase = phase;
    if (pos) {
      t.status.generation = pos.generation;
      t.status.position = `${pos.generation}/${pos.index.toString(16).padStart(8, "0")}:${pos.offset}`;
      const caughtUp = !target || atOrPast(pos, target);
      const applied = pos.sourceUploadedAt ? Date.parse(pos.sourceUploadedAt) : Date.parse(pos.appliedAt);
      t.status.lagMs = caughtUp ? 0 : Math.max(0, Date.now() - applied);
      t.status.behindPrimaryMs =
        target?.changedAt && !caughtUp ? Math.max(0, Date.parse(target.changedAt) - applied) : target ? 0 : undefined;
    }
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
      mode: this.manifest ? "manifest" : "probe",
      manifestAgeMs: this.manifest ? now - Date.parse(this.manifest.publishedAt) : undefined,
      staleManifestAgeMs: this.staleManifestAgeMs,
      busy: this.tracked.filter((t) => t.busy).length,
      operations: counts,
      operationsPerMinute: perMinute,
      databases: this.tracked.map((t) => ({ ...t.status })),
    };
  }

  flush(): void {
    this.state = this.snapshotState();
    writeFileAtomic(this.stateFile, `${JSON.stringify(this.state)}\n`, 0o644, false);
  }
}

/** Whether the copy has everything the manifest names. It can be past it: the manifest is published at intervals. */
function atOrPast(pos: FollowPosition, target: ManifestEntry): boolean {
  return (
    pos.generation === target.generation &&
    (pos.index > target.index || (pos.index === target.index && pos.offset >= target.offset))
  );
}

/** Pages where `fromPath` differs from `toPath`, and the size to end at. */
function diffPages(
  fromPath: string,
  toPath: string,
  pageSize: number,
): { pages: Map<number, Buffer>; dbPages: number } {
  const dbPages = Math.floor(statSync(fromPath).size / pageSize);
  const a = openSync(fromPath, "r");
  const b = openSync(toPath, "r");
  const pages = new Map<number, Buffer>();
  try {
    for (let p = 1; p <= dbPages; p++) {
      const x = Buffer.alloc(pageSize);
      const y = Buffer.alloc(pageSize);
      readSync(a, x, 0, pageSize, (p - 1) * pageSize);
      readSync(b, y, 0, pageSize, (p - 1) * pageSize);
      if (!x.equals(y)) pages.set(p, x);
    }
  } finally {
    closeSync(a);
    closeSync(b);
  }
  return { pages, dbPages };
}
