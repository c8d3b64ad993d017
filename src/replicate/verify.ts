import { join } from "node:path";
import { effective } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { localChange } from "../fleet/localChange";
import { walkChain } from "../follower/build";
import { currentFormat } from "../litestream/format";
import {
  formatWalPosition,
  type GenerationSummary,
  newestSnapshot,
  newestWal,
  summarizeReplica,
} from "../replica/layout";
import { readManifest } from "../replica/manifest";
import { replicaPrefix } from "../store/open";
import type { ReplicaStore } from "../store/store";
import { mapLimit } from "../util/pool";
import { TimeoutError, withTimeout } from "../util/timeout";
import { verifyLtxReplica } from "./verifyLtx";

export type VerifyStatus = "ok" | "no-replica" | "no-snapshot" | "broken" | "stale-snapshot" | "behind" | "error";

export interface VerifyRow {
  name: string;
  tier: string;
  critical: boolean;
  prefix: string;
  /** The Litestream line that wrote the replica's current history. */
  format?: "0.3" | "0.5";
  generations: number;
  generation?: string;
  snapshots: number;
  newestSnapshotAt?: string;
  newestSnapshotAgeMs?: number;
  walSegments: number;
  newestWal?: string;
  newestWalAt?: string;
  newestWalAgeMs?: number;
  bytes: number;
  /** Newest local change (db or -wal mtime) when the database is visible from here. */
  localChangeAt?: string;
  /** How far the store trails the newest local change, when both are known. */
  trailingMs?: number;
  /** WAL segments after the newest snapshot read and checked (what a restore would apply), when the chain was walked. */
  chainSegments?: number;
  status: VerifyStatus;
  detail: string;
}

export interface VerifyReport {
  store: string;
  checkedAt: string;
  rows: VerifyRow[];
  /** Rows whose problem fails the run: critical tiers that are not ok. */
  failures: VerifyRow[];
}

/**
 * Reads every replica in the store and judges it against its tier. `node` (the primary) lets verify also
 * compare the store with the local files: a replica that trails local writes by more than a few sync
 * intervals is behind, whatever its own timestamps say.
 */
export interface VerifyOptions {
  /** Walk the WAL chain after each newest snapshot (downloads it), as a restore would. Default true. */
  chain?: boolean;
  /** A replica not judged by then is an error ("timed out"), so a hanging store cannot hang verify. */
  timeoutMs?: number;
}

export async function verifyStore(
  cfg: UnderstudyConfig,
  store: ReplicaStore,
  node?: NodeConfig,
  now = new Date(),
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  // The current primary names its generations in its manifest: those are current, whatever a fenced node
  // uploaded late into an older one.
  const manifest = await withTimeout(readManifest(store, cfg.store.prefix), deadline - Date.now(), "").catch(
    () => undefined,
  );
  const emptyRow = (db: UnderstudyConfig["databases"][number]): VerifyRow => ({
    name: db.name,
    tier: db.tier,
    critical: effective(cfg, db).tier.critical,
    prefix: replicaPrefix(cfg.store, db.replicaPath),
    generations: 0,
    snapshots: 0,
    walSegments: 0,
    bytes: 0,
    status: "ok",
    detail: "",
  });
  async function verifyOne(db: UnderstudyConfig["databases"][number]): Promise<VerifyRow> {
    const e = effective(cfg, db);
    const base = emptyRow(db);
    const prefix = base.prefix;
    try {
      // Litestream's line decides the layout; a replica that moved to 0.5 is judged by its LTX history.
      const allowedTrail = Math.max(3 * e.syncInterval, 15_000);
      const allowedSnapshotAge = 2 * e.snapshotInterval;
      const localAt = node ? localChange(join(node.dataDir, db.name)) : undefined;
      if ((await currentFormat(store, prefix)) === "0.5")
        return await verifyLtxReplica(store, base, {
          chain: opts.chain !== false,
          now,
          localChangeAt: localAt,
          allowedTrail,
          allowedSnapshotAge,
        });
      const sum = await summarizeReplica(store, prefix);
      const named = manifest?.databases[db.replicaPath]?.generation;
      const g = sum.generations.find((x) => x.id === named && x.snapshots.length) ?? sum.current;
      const snap = newestSnapshot(g);
      const wal = newestWal(g);
      const row: VerifyRow = {
        ...base,
        format: "0.3",
        generations: sum.generations.length,
        generation: g?.id,
        snapshots: g?.snapshots.length ?? 0,
        newestSnapshotAt: snap?.at.toISOString(),
        newestSnapshotAgeMs: snap ? now.getTime() - snap.at.getTime() : undefined,
        walSegments: g?.wal.length ?? 0,
        newestWal: wal ? formatWalPosition(wal.index, wal.offset) : undefined,
        newestWalAt: wal?.at.toISOString(),
        newestWalAgeMs: wal ? now.getTime() - wal.at.getTime() : undefined,
        bytes: sum.bytes,
      };
      const local = localAt;
      const newestUpload = [snap?.at, wal?.at, g?.updatedAt].filter((d): d is Date => !!d).sort((a, b) => +b - +a)[0];
      if (local) {
        row.localChangeAt = local.toISOString();
        if (newestUpload) row.trailingMs = Math.max(0, local.getTime() - newestUpload.getTime());
      }
      // Litestream copies a change within one sync interval; allow a few, and a floor for checkpoints and clocks.
      if (sum.objects === 0) {
        row.status = "no-replica";
        row.detail = "nothing in the store at this path";
      } else if (!snap || !g) {
        row.status = "no-snapshot";
        row.detail = "no snapshot in the current generation: it cannot be restored";
      } else if (opts.chain !== false && (await chainBreak(store, prefix, g, row))) {
        // chainBreak filled in status and detail
      } else if (row.newestSnapshotAgeMs !== undefined && row.newestSnapshotAgeMs > allowedSnapshotAge) {
        row.status = "stale-snapshot";
        row.detail = `newest snapshot is older than twice the tier's snapshot interval`;
      } else if (
        row.trailingMs !== undefined &&
        row.trailingMs > allowedTrail &&
        now.getTime() - (local?.getTime() ?? 0) > allowedTrail
      ) {
        row.status = "behind";
        row.detail = `the local database changed ${Math.round(row.trailingMs / 1000)}s after the newest upload`;
      }
      return row;
    } catch (err) {
      return { ...base, status: "error", detail: (err as Error).message.split("\n")[0] };
    }
  }
  const rows = await mapLimit(
    cfg.databases,
    8,
    async (db): Promise<VerifyRow> =>
      // verifyOne turns its own errors into rows; only the deadline is left to catch here.
      withTimeout(verifyOne(db), deadline - Date.now(), "").catch((e) => {
        if (!(e instanceof TimeoutError)) throw e;
        return {
          ...emptyRow(db),
          status: "error" as const,
          detail: `timed out after ${Math.round((opts.timeoutMs ?? 60_000) / 1000)}s: the store did not answer`,
        };
      }),
  );
  return {
    store: store.describe(),
    checkedAt: now.toISOString(),
    rows,
    failures: rows.filter((r) => r.status !== "ok" && r.critical),
  };
}

/**
 * Reads the WAL a restore would apply after the newest snapshot and checks that it chains (offsets, index
 * roll-overs, checksums) to the newest segment; sets the row's status when it does not. True on a break.
 */
async function chainBreak(store: ReplicaStore, prefix: string, g: GenerationSummary, row: VerifyRow): Promise<boolean> {
  const snap = g.snapshots.reduce((a, b) => (b.index > a.index ? b : a));
  const segments = g.wal.filter((w) => w.index >= snap.index);
  const walked = await walkChain(
    store,
    prefix,
    g.id,
    segments,
    { generation: g.id, index: snap.index, offset: 0, pageSize: 0, dbPages: 0, appliedAt: "" },
    { stopAtBreak: true },
  );
  row.chainSegments = walked.applied;
  if (!walked.broken) return false;
  const b = walked.broken;
  row.status = "broken";
  row.detail = `${b.kind === "gap" ? "WAL segment missing" : "corrupt WAL segment"} at ${formatWalPosition(b.at.index, b.at.offset)} of generation ${g.id}: a restore stops there (${walked.applied} of ${segments.length} segments after the newest snapshot usable); the next snapshot or a new generation gets past it`;
  return true;
}
