import { existsSync } from "node:fs";
import type { Logger } from "pino";
import { localChange } from "../fleet/localChange";
import type { LitestreamFamily } from "../litestream/binary";
import type { LitestreamEvent } from "../litestream/events";
import { syncDatabase } from "../litestream/socket";
import { parsePosition } from "../replica/layout";
import { hex16, ltxPosition, parseTxid, positionTxid } from "../replica/ltxLayout";
import type { ManifestEntry } from "../replica/manifest";
import { sleep } from "../util/timeout";
import { applyEvent, type DbReplicationState } from "./state";
import { committedWalEnd, walUploaded } from "./walEnd";

/**
 * What differs between the Litestream lines for the replicate role: how its log reports uploads, what proves every
 * commit reached the store, and how a database's position is published to the standby.
 */
export interface LitestreamLine {
  readonly family: LitestreamFamily;
  /** Folds one of Litestream's log events into the per-database state; true when something changed. */
  event(e: LitestreamEvent): boolean;
  /** Waits up to `ms` for every present database's committed data to be in the store; the names still behind. */
  awaitUploaded(ms: number, running: () => boolean): Promise<string[]>;
  /** The manifest entry of one database; undefined while nothing of it is known to be in the store. */
  entry(d: DbReplicationState): ManifestEntry | undefined;
  /** Whether the watch for uploaded-then-lost WAL segments applies (0.3 only). */
  readonly watchesGaps: boolean;
}

/** Litestream 0.3: positions from its log ("wal segment written"), uploads proven against its shadow WAL. */
export class Line03 implements LitestreamLine {
  readonly family = "0.3" as const;
  readonly watchesGaps = true;
  constructor(private readonly dbs: Map<string, DbReplicationState>) {}

  event(e: LitestreamEvent): boolean {
    return applyEvent(this.dbs, e);
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

/**
 * Litestream 0.5: positions from its own account of each upload ("ltx file uploaded", logged at debug level, which
 * the rendered config turns on for this); every commit proven uploaded by the control socket's sync that waits for
 * the replica. Not by asking the socket every second: its only answer with the replica's TXID (POST /sync) makes
 * Litestream sync, doubling the LTX files it writes and uploads (PUTs the store bills).
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
    // 0.5 names a database in its events by its file name only: a unique one maps back to its path.
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
    if (e.msg === "ltx file uploaded") {
      // Its JSON carries "level" twice: the log level, then the LTX level, which wins. The replica's position is
      // its level 0 (one file per sync); compactions upload higher levels.
      const lvl = e.raw.level;
      const max = e.raw.maxTXID;
      if ((typeof lvl === "number" && lvl !== 0) || typeof max !== "string" || !/^[0-9a-f]{16}$/.test(max))
        return false;
      s.position = ltxPosition(parseTxid(max));
      s.generation = "ltx";
      s.uploads++;
      s.bytesUploaded += typeof e.raw.size === "number" ? e.raw.size : 0;
      s.lastUploadAt = at;
      return true;
    }
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
      else if (ltxPosition(BigInt(a.replicated_txid)) !== d.position) {
        d.position = ltxPosition(BigInt(a.replicated_txid));
        d.lastUploadAt = new Date().toISOString();
      }
    }
    return behind;
  }

  entry(d: DbReplicationState): ManifestEntry | undefined {
    const txid = positionTxid(d.position);
    if (txid === undefined || !d.lastUploadAt) return undefined;
    return {
      format: "0.5",
      txid: hex16(txid),
      generation: "ltx",
      index: 0,
      offset: 0,
      uploadedAt: d.lastUploadAt,
      changedAt: localChange(d.path)?.toISOString(),
    };
  }
}
