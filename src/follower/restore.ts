import { renameSync, rmSync } from "node:fs";
import type { DatabaseConfig, UnderstudyConfig } from "../config/types";
import { digestDatabase } from "../fleet/rowHash";
import { formatWalPosition } from "../replica/layout";
import { readManifest } from "../replica/manifest";
import { openStore, replicaPrefix } from "../store/open";
import { type BuildProgress, buildFromReplica } from "./build";

export interface RestoreResult {
  database: string;
  output: string;
  generation: string;
  position: string;
  /** Upload time of the newest segment applied: the data is as of then. */
  upTo?: string;
  segments: number;
  bytesDownloaded: number;
  rows: number;
  integrity: string;
}

/**
 * Restores one database from the store into `out`, as of `at` when given: built in a temporary file beside it,
 * which takes the name only once whole (a failure leaves no file behind and `out` untouched), then checked
 * with integrity_check and its rows counted.
 */
export async function restoreDatabase(
  cfg: UnderstudyConfig,
  db: DatabaseConfig,
  out: string,
  opts: { at?: Date; onProgress?: (p: BuildProgress) => void } = {},
): Promise<RestoreResult> {
  const store = await openStore(cfg.store);
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    // The current primary's generation, as its manifest names it, unless restoring to a point in time.
    const m = opts.at ? undefined : await readManifest(store, cfg.store.prefix).catch(() => undefined);
    const r = await buildFromReplica(store, replicaPrefix(cfg.store, db.replicaPath), tmp, {
      ...opts,
      generation: m?.databases[db.replicaPath]?.generation,
    });
    renameSync(tmp, out);
    const d = digestDatabase(out);
    return {
      database: db.name,
      output: out,
      generation: r.generation.id,
      position: formatWalPosition(r.position.index, r.position.offset),
      upTo: r.position.sourceUploadedAt,
      segments: r.segments,
      bytesDownloaded: r.bytesDownloaded,
      rows: d.rows,
      integrity: d.integrity,
    };
  } finally {
    rmSync(tmp, { force: true });
  }
}
