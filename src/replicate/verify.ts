import { join } from "node:path";
import { effective } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { localChange } from "../fleet/localChange";
import { newestSnapshot, newestWal, summarizeReplica } from "../litestream/replicaLayout";
import { replicaPrefix } from "../store/open";
import type { ReplicaStore } from "../store/store";
import { mapLimit } from "../util/pool";

export type VerifyStatus = "ok" | "no-replica" | "no-snapshot" | "stale-snapshot" | "behind" | "error";

export interface VerifyRow {
  name: string;
  tier: string;
  critical: boolean;
  prefix: string;
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
export async function verifyStore(
  cfg: UnderstudyConfig,
  store: ReplicaStore,
  node?: NodeConfig,
  now = new Date(),
): Promise<VerifyReport> {
  const rows = await mapLimit(cfg.databases, 8, async (db): Promise<VerifyRow> => {
    const e = effective(cfg, db);
    const prefix = replicaPrefix(cfg.store, db.replicaPath);
    const base: VerifyRow = {
      name: db.name,
      tier: db.tier,
      critical: e.tier.critical,
      prefix,
      generations: 0,
      snapshots: 0,
      walSegments: 0,
      bytes: 0,
      status: "ok",
      detail: "",
    };
    try {
      const sum = await summarizeReplica(store, prefix);
      const g = sum.current;
      const snap = newestSnapshot(g);
      const wal = newestWal(g);
      const row: VerifyRow = {
        ...base,
        generations: sum.generations.length,
        generation: g?.id,
        snapshots: g?.snapshots.length ?? 0,
        newestSnapshotAt: snap?.at.toISOString(),
        newestSnapshotAgeMs: snap ? now.getTime() - snap.at.getTime() : undefined,
        walSegments: g?.wal.length ?? 0,
        newestWal: wal ? `${wal.index.toString(16).padStart(8, "0")}:${wal.offset}` : undefined,
        newestWalAt: wal?.at.toISOString(),
        newestWalAgeMs: wal ? now.getTime() - wal.at.getTime() : undefined,
        bytes: sum.bytes,
      };
      const local = node ? localChange(join(node.dataDir, db.name)) : undefined;
      const newestUpload = [snap?.at, wal?.at, g?.updatedAt].filter((d): d is Date => !!d).sort((a, b) => +b - +a)[0];
      if (local) {
        row.localChangeAt = local.toISOString();
        if (newestUpload) row.trailingMs = Math.max(0, local.getTime() - newestUpload.getTime());
      }
      // Litestream copies a change within one sync interval; allow a few, and a floor for checkpoints and clocks.
      const allowedTrail = Math.max(3 * e.syncInterval, 15_000);
      const allowedSnapshotAge = 2 * e.snapshotInterval;
      if (sum.objects === 0) {
        row.status = "no-replica";
        row.detail = "nothing in the store at this path";
      } else if (!snap) {
        row.status = "no-snapshot";
        row.detail = "no snapshot in the current generation: it cannot be restored";
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
  });
  return {
    store: store.describe(),
    checkedAt: now.toISOString(),
    rows,
    failures: rows.filter((r) => r.status !== "ok" && r.critical),
  };
}
