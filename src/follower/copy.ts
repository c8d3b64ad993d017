import { existsSync, renameSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { DatabaseConfig, NodeConfig } from "../config/types";
import { currentFormat } from "../litestream/format";
import { formatWalPosition, hex8, segmentKey, segmentOffset, walPrefix } from "../replica/layout";
import { decodeLtx } from "../replica/ltx";
import { furthestFrom, hex16, listLtx, ltxKey, parseTxid, restorePlan } from "../replica/ltxLayout";
import type { ManifestEntry, PositionsManifest } from "../replica/manifest";
import type { CountingStore } from "../store/countingStore";
import { decodeLz4Frame } from "../util/lz4";
import { buildFromReplica, ReplicaGapError } from "./build";
import { buildFromLtx, markStandbyCopy } from "./buildLtx";
import { type Hold, holdFor, nextAttempt, pastGap } from "./hold";
import { ForeignWriteError, LiveDatabase, RollbackPendingError } from "./liveDatabase";
import type { LockKeeper } from "./lockKeeper";
import {
  consumeSegment,
  copyPosition,
  type FollowPosition,
  mergeTransactions,
  readPosition,
  writePosition,
} from "./position";
import type { FollowDbPhase, FollowDbStatus } from "./state";
import type { WalTransaction } from "./wal";

/** Errors of the local filesystem (as opposed to the store's): a copy written when one came may need checking. */
const FILE_ERRORS = new Set(["ENOSPC", "EIO", "EDQUOT", "EROFS", "EFBIG", "EBADF", "EPERM", "EACCES"]);

/** What every followed copy shares with the follow loop. */
export interface CopyContext {
  store: CountingStore;
  keeper: LockKeeper;
  log: Logger;
  node: NodeConfig;
  retryMinMs?: number;
  retryMaxMs?: number;
  maxSegmentsPerRound?: number;
  /** The primary's positions manifest as last read, when fresh enough to trust; undefined while probing. */
  manifest(): PositionsManifest | undefined;
  /** Whether the last read of the manifest was fresh and the store answered: what lets a lag be 0. */
  fresh(): boolean;
}

/**
 * One followed database on the standby: its copy, its position in the replica, and everything that brings it
 * forward — applying new segments, bootstrapping and rebuilding aside, holding at a gap or corrupt segment
 * with backoff, refusing files it did not make, and noticing other writers. The follow loop (follower.ts)
 * decides when each copy gets a turn; this decides what the turn does.
 */
export class FollowedCopy {
  readonly path: string;
  readonly positionFile: string;
  readonly status: FollowDbStatus;
  live?: LiveDatabase;
  nextProbeAt = 0;
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
  nextForeignCheckAt = 0;
  /** The line found in the store while no manifest says (probing); kept so probes do not list every time. */
  private line?: "0.3" | "0.5";

  constructor(
    readonly db: DatabaseConfig,
    readonly prefix: string,
    private readonly ctx: CopyContext,
  ) {
    this.path = join(ctx.node.dataDir, db.name);
    this.positionFile = join(ctx.node.stateDir, "follow", `${db.name}.position.json`);
    this.status = {
      name: db.name,
      tier: db.tier,
      phase: "waiting",
      segmentsApplied: 0,
      transactionsApplied: 0,
      bootstraps: 0,
    };
  }

  /** Where a rebuild is built before it replaces the copy. */
  get asidePath(): string {
    return join(this.ctx.node.dataDir, `.${this.db.name}.understudy-bootstrap`);
  }

  /** At start: what a crash left aside goes, the position is read. */
  load(): void {
    rmSync(this.asidePath, { force: true });
    this.pos = readPosition(this.positionFile);
  }

  /** True when a turn has nothing to do for this copy with this manifest entry. */
  idle(): boolean {
    return !!this.checked && !this.damaged && !this.hold;
  }

  async close(): Promise<void> {
    await this.live?.close();
  }

  noteTarget(target: ManifestEntry | undefined): void {
    if (!this.ctx.fresh()) return;
    if (this.pos && (!target || atOrPast(this.pos, target))) {
      this.behindSince = undefined;
      this.currentAt = Date.now();
    } else if (target && this.behindSince === undefined) {
      const changed = Date.parse(target.changedAt ?? target.uploadedAt);
      this.behindSince = Math.min(Number.isFinite(changed) ? changed : Date.now(), Date.now());
    }
  }

  /** Everything one database needs this round; true when it applied segments. */
  async work(target: ManifestEntry | undefined): Promise<boolean> {
    // A file this follower did not make (no position recorded for it) is never replaced: it may be a primary's
    // live database under a wrong --node or --data-dir, or someone's copy. Left alone until it is moved away.
    if (!this.pos && existsSync(this.path)) {
      if (this.hold?.kind !== "unknown-file")
        this.stall(
          holdFor(
            "unknown-file",
            `${this.path} exists but this follower did not make it (no position for it in ${this.positionFile}); it is left untouched`,
            undefined,
            undefined,
          ),
        );
      else this.extendHold();
      return false;
    }
    if (this.hold?.kind === "unknown-file") this.clearHold(`${this.path} was moved away`);
    if (this.hold) {
      const next = await this.pastHold(target);
      if (next === "wait") return false;
      if (next === "rebuild") {
        await this.bootstrap(`getting past: ${this.hold?.reason ?? "a stall"}`);
        return false;
      }
    }
    if (!this.checked && this.pos && existsSync(this.path)) await this.checkCopy();
    if (this.damaged) {
      await this.bootstrap(`rebuilding the copy: ${this.damaged}`);
      return false;
    }
    return this.syncOne(this.pos, target);
  }

  /**
   * The first look at a copy after start: SQLite rolls back a journal a crash left (opening it read-write does
   * that), the header must be one this follower wrote, and quick_check must pass; otherwise it is rebuilt.
   */
  private async checkCopy(): Promise<void> {
    const hot = existsSync(`${this.path}-journal`);
    this.live ??= new LiveDatabase(this.path, this.pos?.pageSize ?? 4096, this.ctx.keeper);
    if (hot && (await this.live.recover())) this.event("rolled back an interrupted apply (hot journal)");
    const foreign = await this.live.foreignChange(this.pos?.counters === true);
    const qc = foreign ? undefined : await this.live.quickCheck();
    this.checked = true;
    this.nextForeignCheckAt = Date.now() + 5000;
    if (foreign) this.markDamaged(`another process changed it: ${foreign}`);
    else if (qc !== "ok") this.markDamaged(`quick_check failed: ${qc}`);
  }

  /** Between applies: a copy written by anyone else no longer matches the primary and is rebuilt. */
  async checkForeign(): Promise<void> {
    this.nextForeignCheckAt = Date.now() + 5000;
    if (!this.live || !existsSync(this.path)) return;
    const why = await this.live.foreignChange();
    if (why) this.markDamaged(`another process changed it: ${why}`);
  }

  private markDamaged(why: string): void {
    this.damaged = why;
    this.status.phase = "damaged";
    this.status.lastError = {
      at: new Date().toISOString(),
      message: `copy damaged, rebuilding from the store: ${why}`,
    };
    this.ctx.log.error({ db: this.db.name, why }, "standby copy damaged; rebuilding it aside from the store");
  }

  /**
   * A held database's retry: at most one GET and one listing, never a rebuild that cannot get past the cause.
   * "go" resumes applying, "rebuild" builds aside from a snapshot past the cause, "wait" backs off further.
   */
  private async pastHold(target: ManifestEntry | undefined): Promise<"go" | "rebuild" | "wait"> {
    const h = this.hold as Hold;
    if ((h.kind === "gap" || h.kind === "corrupt") && (await this.lineOf(target)) === "0.5") return this.pastHoldLtx(h);
    // Waiting for a first snapshot: the primary's manifest naming the database means there is one now.
    if (!h.generation && target) return "rebuild";
    if (h.kind === "gap" || h.kind === "corrupt") {
      if (target && h.generation && target.generation !== h.generation) return "rebuild";
      if (await this.readableAgain(h, decodeLz4Frame)) return "go";
      if (await pastGap(this.ctx.store, this.prefix, h)) return "rebuild";
      this.extendHold();
      return "wait";
    }
    // Disk, damage and other errors: try again; the hold (and its backoff) stays until an apply succeeds.
    return "go";
  }

  /**
   * A 0.5 copy held at a missing or corrupt LTX file: goes on when the file is readable again, rebuilds when a
   * snapshot (or the compacted levels) now reach past where the copy stands, waits otherwise.
   */
  private async pastHoldLtx(h: Hold): Promise<"go" | "rebuild" | "wait"> {
    if (await this.readableAgain(h, decodeLtx)) return "go";
    const at = this.pos?.txid ? parseTxid(this.pos.txid) : 0n;
    const plan = restorePlan(await listLtx(this.ctx.store, this.prefix));
    if (plan && plan.txid > at) return "rebuild";
    this.extendHold();
    return "wait";
  }

  /** The held file is back and decodes (one GET): the hold is lifted. False while it is missing or still corrupt. */
  private async readableAgain(h: Hold, decode: (raw: Buffer) => unknown): Promise<boolean> {
    const raw = h.key ? await this.ctx.store.getIfExists(h.key) : undefined;
    if (!raw) return false;
    try {
      decode(raw);
    } catch {
      return false;
    }
    this.clearHold(`${h.key} is readable again`);
    return true;
  }

  /**
   * Which Litestream line wrote what this copy follows: the manifest says (a 0.5 entry carries its TXID), else
   * the copy's own position, else the store (a database that moved keeps both; the newer history counts).
   */
  private async lineOf(target: ManifestEntry | undefined): Promise<"0.3" | "0.5"> {
    if (target) return target.format === "0.5" ? "0.5" : "0.3";
    if (this.line) return this.line;
    if (this.pos) return this.pos.txid !== undefined ? "0.5" : "0.3";
    this.line = (await currentFormat(this.ctx.store, this.prefix)) === "0.5" ? "0.5" : "0.3";
    return this.line;
  }

  private clearHold(why: string): void {
    if (!this.hold) return;
    this.event(`resumed: ${why}`);
    this.hold = undefined;
    this.status.retryAt = undefined;
    this.status.lastError = undefined;
  }

  private extendHold(): void {
    const h = this.hold as Hold;
    nextAttempt(h, this.ctx.retryMinMs, this.ctx.retryMaxMs);
    this.status.retryAt = new Date(h.nextAt).toISOString();
    this.ctx.log.debug({ db: this.db.name, attempts: h.attempts }, `still held: ${h.reason}`);
  }

  /** Brings one copy forward; true when it applied segments (not a bootstrap or nothing new). */
  private async syncOne(pos: FollowPosition | undefined, target?: ManifestEntry): Promise<boolean> {
    const line = await this.lineOf(target);
    // The primary moved from one Litestream line to the other: the copy is rebuilt from the new history's first
    // snapshot (every page: nothing written in between is missed), said as a bootstrap.
    if (pos && existsSync(this.path) && (pos.txid !== undefined) !== (line === "0.5")) {
      await this.bootstrap(
        `the primary's replica is now Litestream ${line}'s (the copy followed ${line === "0.5" ? "0.3" : "0.5"})`,
      );
      return false;
    }
    if (line === "0.5") return this.syncLtx(pos, target);
    if (!pos || !existsSync(this.path) || (target && target.generation !== pos.generation)) {
      const why =
        !pos || !existsSync(this.path)
          ? "no local copy yet"
          : `generation ${target?.generation} replaced ${pos.generation}`;
      await this.bootstrap(why);
      return false;
    }
    let cur = pos;
    const txs: WalTransaction[] = [];
    let segments = 0;
    let stopped: Hold | undefined;
    let reachedEnd = false;
    const max = this.ctx.maxSegmentsPerRound ?? 256;
    // With the primary's manifest, fetch exactly up to where it says; probing past it only costs missing GETs.
    while (segments < max && !(target && atOrPast(cur, target))) {
      // The primary publishes where each recent WAL index ended: at that end, go straight to the next index.
      const end = target?.generation === cur.generation ? target.ends?.[hex8(cur.index)] : undefined;
      if (end !== undefined && end !== cur.offset && cur.offset > end) {
        await this.bootstrap(`WAL index ${cur.index.toString(16)} ended at ${end}, before the copy's ${cur.offset}`);
        return false;
      }
      const atEnd = end !== undefined && end === cur.offset && cur.offset > 0;
      let key = segmentKey(this.prefix, cur.generation, cur.index, cur.offset);
      let raw = atEnd ? undefined : await this.ctx.store.getIfExists(key);
      if (!raw && cur.offset > 0) {
        const rolled = segmentKey(this.prefix, cur.generation, cur.index + 1, 0);
        raw = await this.ctx.store.getIfExists(rolled);
        if (raw) {
          // Litestream moved to the next WAL index. That is only safe to follow if ours ended where we stand;
          // if retention (or a gap) took the rest of it, the copy must be rebuilt instead. When the manifest does
          // not say where it ended, one listing tells.
          const why = atEnd ? undefined : await this.indexIncomplete(cur);
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
        this.live ??= new LiveDatabase(this.path, cur.pageSize, this.ctx.keeper);
        await this.live.apply(merged.pages, merged.dbPages);
      }
      cur = { ...cur, appliedAt: new Date().toISOString() };
      writePosition(this.positionFile, cur);
      this.pos = cur;
      this.status.segmentsApplied += segments;
      this.status.transactionsApplied += txs.length;
      this.status.lastAppliedAt = cur.appliedAt;
      if (!stopped) this.status.lastError = undefined;
      this.noteTarget(target);
    }
    if (!stopped && segments === 0 && target && !atOrPast(cur, target)) {
      // The primary says there is more, but the next segment is not there: retention took it, or a gap.
      const key = segmentKey(this.prefix, cur.generation, cur.index, cur.offset);
      stopped = holdFor(
        "gap",
        `WAL segment ${formatWalPosition(cur.index, cur.offset)} of generation ${cur.generation} is missing from the store while the primary is at ${formatWalPosition(target.index, target.offset)}`,
        key,
        cur,
      );
    }
    if (stopped) {
      this.stall(stopped);
      return segments > 0;
    }
    // Probing (no manifest) up to a segment that is not there yet: as of now the copy has what the store has.
    if (!this.ctx.manifest() && reachedEnd) this.currentAt = Date.now();
    if (this.hold) this.clearHold("applying again");
    this.setPhase("following", cur);
    return segments > 0;
  }

  /**
   * Brings a copy of a Litestream 0.5 replica forward: the L0 file of each next TXID (one GET each, as for 0.3's
   * segments), or — when retention took L0 — the compacted file that covers it and reaches furthest. Every file's
   * checksum is verified before any of its pages is kept; what came before a missing or corrupt one is applied.
   */
  private async syncLtx(pos: FollowPosition | undefined, target?: ManifestEntry): Promise<boolean> {
    if (!pos?.txid || !existsSync(this.path)) {
      await this.bootstrap(pos ? "no local copy" : "no local copy yet");
      return false;
    }
    const want = target?.txid ? parseTxid(target.txid) : undefined;
    let cur = parseTxid(pos.txid);
    const pages = new Map<number, Buffer>();
    let dbPages = pos.dbPages;
    let files = 0;
    let stopped: Hold | undefined;
    let reachedEnd = false;
    let uploadedAt = pos.sourceUploadedAt;
    const max = this.ctx.maxSegmentsPerRound ?? 256;
    const at = (txid: bigint) => ({ generation: "ltx", index: Number(txid), offset: 0 });
    while (files < max && (want === undefined || cur < want)) {
      const next = cur + 1n;
      let key = ltxKey(this.prefix, 0, next, next);
      let raw = await this.ctx.store.getIfExists(key);
      if (!raw) {
        if (want === undefined) {
          reachedEnd = true;
          break;
        }
        // Retention removed L0 (or it never came): a compacted file covering the next TXID does as well.
        const covering = furthestFrom(await listLtx(this.ctx.store, this.prefix, [1, 2, 3, 4, 5, 6, 7, 8]), cur);
        raw = covering && (await this.ctx.store.getIfExists(covering.key));
        if (!raw || !covering) {
          stopped = holdFor(
            "gap",
            `TXID ${hex16(next)} is in no LTX file in the store while the primary is at ${hex16(want)}`,
            key,
            at(cur),
          );
          break;
        }
        key = covering.key;
      }
      try {
        const f = decodeLtx(raw);
        if (f.header.minTxid > next || f.header.maxTxid <= cur)
          throw new Error(`holds TXIDs ${hex16(f.header.minTxid)}-${hex16(f.header.maxTxid)}, not ${hex16(next)}`);
        if (f.header.pageSize !== pos.pageSize)
          throw new Error(`page size ${f.header.pageSize}, the copy's is ${pos.pageSize}`);
        for (const [pgno, data] of f.pages) pages.set(pgno, data);
        dbPages = f.header.commit;
        for (const pgno of pages.keys()) if (pgno > dbPages) pages.delete(pgno);
        cur = f.header.maxTxid;
        uploadedAt = target?.uploadedAt ?? new Date(f.header.timestamp).toISOString();
        files++;
      } catch (e) {
        stopped = holdFor("corrupt", `corrupt LTX file not applied: ${key}: ${(e as Error).message}`, key, at(cur));
        break;
      }
    }
    let next = pos;
    if (files > 0) {
      this.live ??= new LiveDatabase(this.path, pos.pageSize, this.ctx.keeper);
      await this.live.apply(pages, dbPages);
      next = { ...pos, txid: hex16(cur), dbPages, sourceUploadedAt: uploadedAt, appliedAt: new Date().toISOString() };
      writePosition(this.positionFile, next);
      this.pos = next;
      this.status.segmentsApplied += files;
      this.status.transactionsApplied += files;
      this.status.lastAppliedAt = next.appliedAt;
      if (!stopped) this.status.lastError = undefined;
      this.noteTarget(target);
    }
    if (stopped) {
      this.stall(stopped);
      return files > 0;
    }
    if (!this.ctx.manifest() && reachedEnd) this.currentAt = Date.now();
    if (this.hold) this.clearHold("applying again");
    this.setPhase("following", next);
    return files > 0;
  }

  /** Names the stall once, with what gets past it, and backs off; the copy keeps serving its last good state. */
  private stall(h: Hold): void {
    const same = this.hold?.reason === h.reason;
    if (same && this.hold) {
      this.extendHold();
    } else {
      nextAttempt(h, this.ctx.retryMinMs, this.ctx.retryMaxMs);
      this.hold = h;
      this.status.retryAt = new Date(h.nextAt).toISOString();
      this.ctx.log.error(
        { db: this.db.name, generation: h.generation, position: h.position, needs: h.needs },
        h.reason,
      );
    }
    this.setPhase("stalled", this.pos);
    this.status.lastError = { at: new Date(h.since).toISOString(), message: `${h.reason}; ${h.needs}` };
  }

  /** Why WAL index `cur.index` cannot be left at `cur.offset`, or undefined when it ended exactly there. */
  private async indexIncomplete(cur: FollowPosition): Promise<string | undefined> {
    const dir = walPrefix(this.prefix, cur.generation, cur.index);
    const offsets: number[] = [];
    for await (const o of this.ctx.store.list(dir)) {
      const off = segmentOffset(o.key, dir);
      if (off !== undefined) offsets.push(off);
    }
    if (offsets.some((o) => o >= cur.offset))
      return `WAL index ${hex8(cur.index)} of generation ${cur.generation} has a gap at offset ${cur.offset}`;
    if (offsets.length === 0)
      return `retention removed WAL index ${hex8(cur.index)} of generation ${cur.generation} before the standby had all of it`;
    return undefined;
  }

  private async bootstrap(why: string): Promise<void> {
    this.setPhase("bootstrapping", undefined);
    this.event(`bootstrap: ${why}`);
    const aside = this.asidePath;
    try {
      const built = await this.build(aside);
      const pos = { ...built.position, appliedAt: new Date().toISOString() };
      if (!existsSync(this.path)) {
        await this.live?.close();
        this.live = undefined;
        // The position first: a file in the data dir without one is not this follower's and is never touched,
        // so a crash between the two must leave a position without a file (rebuilt), never the reverse.
        writePosition(this.positionFile, pos);
        renameSync(aside, this.path);
      } else {
        // Readers may have the live file open: bring it to the new state page by page, in one journaled apply.
        if (this.live && this.live.pageSize !== built.position.pageSize) {
          await this.live.close();
          this.live = undefined;
        }
        this.live ??= new LiveDatabase(this.path, built.position.pageSize, this.ctx.keeper);
        if (this.damaged) await this.live.reclaim();
        const { pages, dbPages } = await diffPages(aside, this.live);
        await this.live.apply(pages, dbPages, { overwrite: !!this.damaged });
        rmSync(aside, { force: true });
        writePosition(this.positionFile, pos);
      }
      this.pos = pos;
      this.checked = true;
      this.damaged = undefined;
      this.hold = undefined;
      this.status.retryAt = undefined;
      this.status.bootstraps++;
      this.status.segmentsApplied += built.segments;
      this.status.lastAppliedAt = pos.appliedAt;
      this.status.lastError = undefined;
      this.event(
        pos.txid !== undefined
          ? `bootstrapped from the Litestream 0.5 replica at TXID ${pos.txid} (${built.segments} LTX files)`
          : `bootstrapped from generation ${pos.generation} (snapshot + ${built.segments} segments)`,
      );
      this.noteTarget(this.ctx.manifest()?.databases[this.db.replicaPath]);
      this.setPhase("following", pos);
      // Everything before a break in the chain is in the copy; the break itself is held like any other.
      if (built.broken) this.stall(holdFor(built.broken.kind, built.broken.reason, built.broken.key, built.broken.at));
    } catch (e) {
      rmSync(aside, { force: true });
      if (e instanceof ReplicaGapError) {
        if (!existsSync(this.path)) {
          this.setPhase("waiting", undefined);
          this.status.lastEvent = { at: new Date().toISOString(), message: `waiting: ${e.message}` };
          this.hold = holdFor("gap", e.message, undefined, undefined);
          nextAttempt(this.hold, this.ctx.retryMinMs, this.ctx.retryMaxMs);
          this.status.phase = "waiting";
          return;
        }
        this.stall(holdFor("gap", `cannot rebuild: ${e.message}`, e.key, e.at));
        return;
      }
      throw e;
    }
  }

  /** Builds a whole copy at `aside` from the store, by the line that wrote the replica; where a break stopped it. */
  private async build(aside: string): Promise<{
    position: FollowPosition;
    segments: number;
    broken?: {
      kind: "gap" | "corrupt";
      reason: string;
      key?: string;
      at?: { generation: string; index: number; offset: number };
    };
  }> {
    const target = this.ctx.manifest()?.databases[this.db.replicaPath];
    if ((await this.lineOf(target)) === "0.5") {
      const r = await buildFromLtx(this.ctx.store, this.prefix, aside);
      markStandbyCopy(aside, r.pageSize, r.commit);
      return {
        position: {
          generation: "ltx",
          index: 0,
          offset: 0,
          pageSize: r.pageSize,
          dbPages: r.commit,
          txid: hex16(r.txid),
          sourceUploadedAt: r.upTo.toISOString(),
          appliedAt: "",
        },
        segments: r.files,
        broken: r.complete
          ? undefined
          : {
              kind: "gap",
              reason: `the LTX files in the store stop at TXID ${hex16(r.txid)}: a gap before the newest`,
            },
      };
    }
    const built = await buildFromReplica(this.ctx.store, this.prefix, aside, {
      stopAtBreak: true,
      generation: target?.generation,
    });
    const b = built.broken;
    return {
      position: built.position,
      segments: built.segments,
      broken: b && {
        kind: b.kind,
        reason:
          b.kind === "gap"
            ? `WAL segment ${formatWalPosition(b.at.index, b.at.offset)} of generation ${b.at.generation} is missing from the store`
            : `corrupt segment not applied: ${b.message}`,
        key: b.key,
        at: b.at,
      },
    };
  }

  fail(e: Error): void {
    const at = new Date().toISOString();
    if (e instanceof ForeignWriteError) {
      this.markDamaged(`another process changed it: ${e.detail}`);
      return;
    }
    const disk = (e as NodeJS.ErrnoException).code === "ENOSPC";
    const reason = disk
      ? `no space left on the filesystem of ${this.ctx.node.dataDir}; the copy keeps its last good state until there is room`
      : e instanceof RollbackPendingError
        ? e.message
        : `follow failed: ${e.message}`;
    const h = holdFor(disk ? "disk" : "error", reason, undefined, this.pos);
    if (this.hold?.reason === reason) this.extendHold();
    else {
      nextAttempt(h, this.ctx.retryMinMs, this.ctx.retryMaxMs);
      this.hold = h;
      this.status.retryAt = new Date(h.nextAt).toISOString();
      this.ctx.log.error({ db: this.db.name, err: e.message }, reason);
    }
    this.status.lastError = { at, message: reason };
    this.setPhase("stalled", this.pos);
    // A failed write to the copy puts the original pages back; check that it did before calling the copy good
    // again. A store that did not answer touched nothing here: no need to read the whole copy for that.
    const local = FILE_ERRORS.has((e as NodeJS.ErrnoException).code ?? "") || e instanceof RollbackPendingError;
    if (local && this.live && existsSync(this.path) && !this.live.rollbackPending) this.checked = false;
  }

  private event(message: string): void {
    this.status.lastEvent = { at: new Date().toISOString(), message };
    this.ctx.log.info({ db: this.db.name }, message);
  }

  setPhase(phase: FollowDbPhase, pos: FollowPosition | undefined): void {
    if (this.damaged && phase === "following") phase = "damaged";
    this.status.phase = phase;
    if (pos) {
      this.status.generation = pos.generation;
      this.status.position = copyPosition(pos);
    }
  }

  lagMs(now: number): number | undefined {
    if (!this.pos) return undefined;
    if (this.behindSince !== undefined) return Math.max(0, now - this.behindSince);
    // Caught up as of the last fresh manifest: current while the manifest stays fresh and readable.
    if (this.ctx.fresh() && this.currentAt !== undefined && !this.hold) return 0;
    const since = this.currentAt ?? Date.parse(this.pos.sourceUploadedAt ?? this.pos.appliedAt);
    return Math.max(0, now - since);
  }
}

/** Whether the copy has everything the manifest names. It can be past it: the manifest is published at intervals. */
export function atOrPast(pos: FollowPosition, target: ManifestEntry): boolean {
  if (target.format === "0.5")
    return pos.txid !== undefined && target.txid !== undefined && parseTxid(pos.txid) >= parseTxid(target.txid);
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
