import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { localChange } from "../fleet/localChange";
import type { LitestreamFamily } from "../litestream/binary";
import type { LitestreamEvent } from "../litestream/events";
import { syncDatabase } from "../litestream/socket";
import { parsePosition } from "../replica/layout";
import { hex16 } from "../replica/ltxLayout";
import type { ManifestEntry } from "../replica/manifest";
import { applyEvent, type DbReplicationState } from "./state";
import { committedWalEnd, walUploaded } from "./walEnd";

/**
 * What differs between the Litestream lines for the replicate role: where positions come from, what proves every
 * commit reached the store, and how a database's position is published to the standby.
 */
export interface LitestreamLine {
  readonly family: LitestreamFamily;
  /** Folds one of Litestream's log events into the per-database state; true when something changed. */
  event(e: LitestreamEvent): boolean;
  /** Refreshes positions from Litestream itself where it answers (0.5's control socket); true when one moved. */
  poll(): Promise<boolean>;
  /** Waits up to `ms` for every present database's committed data to be in the store; the names still behind. */
  awaitUploaded(ms: number, running: () => boolean): Promise<string[]>;
  /** The manifest entry of one database; undefined while nothing of it is known to be in the store. */
  entry(d: DbReplicationState): ManifestEntry | undefined;
  /** Whether the watch for uploaded-then-lost WAL segments applies (0.3 only). */
  readonly watchesGaps: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Litestream 0.3: positions from its log ("wal segment written"), uploads proven against its shadow WAL. */
export class Line03 implements LitestreamLine {
  readonly family = "0.3" as const;
  readonly watchesGaps = true;
  constructor(private readonly dbs: Map<string, DbReplicationState>) {}

  event(e: LitestreamEvent): boolean {
    return applyEvent(this.dbs, e);
  }

  async poll(): Promise<boolean> {
    return false;
  }

  async awaitUploaded(ms: number, running: () => boolean): Promise<string[]> {
    const end = Date.now() + ms;
    // The commits there are now: writers that keep going must not keep the target moving.
    const targets = new Map([...this.dbs.values()].map((d) => [d.path, committedWalEnd(d.path)]));
    const behind = () =>
      [...this.dbs.values()]
        .filter((d) => d.present && !walUploaded(d.path, d.position, targets.get(d.path)))
        .map((d) => d.name);
    while (Date.now() < end && behind().length && running()) await sleep(100);
    return behind();
  }

  entry(d: DbReplicationState): ManifestEntry | undefined {
    const p = parsePosition(d.position);
    if (!p || !d.lastUploadAt) return undefined;
    return { ...p, uploadedAt: d.lastUploadAt, changedAt: localChange(d.path)?.toISOString(), ends: d.indexEnds };
  }
}

/** A 0.5 position as replicate-state and status show it: the replica's TXID. */
export const ltxPosition = (txid: number | bigint) => `ltx/${hex16(BigInt(txid))}`;

/**
 * Litestream 0.5: positions from its control socket (POST /sync answers the replica's TXID — what the store has —
 * beside the database's), every commit proven uploaded by a sync that waits for the replica.
 */
export class Line05 implements LitestreamLine {
  readonly family = "0.5" as const;
  readonly watchesGaps = false;
  private readonly byBase = new Map<string, DbReplicationState | null>();

  constructor(
    private readonly dbs: Map<string, DbReplicationState>,
    private readonly socketPath: string,
    private readonly log: Logger,
  ) {
    // 0.5 names a database in some events by its file name only: a unique one maps back to its path.
    for (const d of dbs.values()) {
      const base = d.path.slice(d.path.lastIndexOf("/") + 1);
      this.byBase.set(base, this.byBase.has(base) ? null : d);
    }
  }

  private find(e: LitestreamEvent): DbReplicationState | undefined {
    if (!e.db) return undefined;
    return this.dbs.get(e.db) ?? this.byBase.get(e.db) ?? undefined;
  }

  event(e: LitestreamEvent): boolean {
    const s = this.find(e);
    if (!s) return false;
    const at = e.time.toISOString();
    if (e.msg === "snapshot complete") {
      s.snapshots++;
      s.lastSnapshotAt = at;
      return true;
    }
    if (e.level === "ERROR" || e.level === "WARN") {
      s.errors++;
      s.lastError = { at, message: `${e.msg}${e.error ? `: ${e.error}` : ""}` };
      return true;
    }
    return false;
  }

  async poll(): Promise<boolean> {
    let moved = false;
    for (const d of this.dbs.values()) {
      if (!d.present || !existsSync(d.path)) continue;
      const a = await syncDatabase(this.socketPath, d.path, false).catch(() => undefined);
      if (!a?.replicated_txid) continue;
      const pos = ltxPosition(a.replicated_txid);
      if (pos === d.position) continue;
      d.position = pos;
      d.generation = "ltx";
      d.uploads++;
      d.lastUploadAt = new Date().toISOString();
      moved = true;
    }
    return moved;
  }

  async awaitUploaded(ms: number, running: () => boolean): Promise<string[]> {
    const end = Date.now() + ms;
    const behind: string[] = [];
    for (const d of this.dbs.values()) {
      if (!d.present || !existsSync(d.path) || !running()) continue;
      const left = Math.max(1, Math.floor((end - Date.now()) / 1000));
      const a = await syncDatabase(this.socketPath, d.path, true, left).catch((e: Error) => {
        this.log.warn({ db: d.name, err: e.message }, "litestream did not confirm the upload");
        return undefined;
      });
      if (!a || a.replicated_txid < a.txid) behind.push(d.name);
      else if (ltxPosition(a.replicated_txid) !== d.position) {
        d.position = ltxPosition(a.replicated_txid);
        d.lastUploadAt = new Date().toISOString();
      }
    }
    return behind;
  }

  entry(d: DbReplicationState): ManifestEntry | undefined {
    if (!d.position?.startsWith("ltx/") || !d.lastUploadAt) return undefined;
    return {
      format: "0.5",
      txid: d.position.slice(4),
      generation: "ltx",
      index: 0,
      offset: 0,
      uploadedAt: d.lastUploadAt,
      changedAt: localChange(d.path)?.toISOString(),
    };
  }
}
