import { renameSync, rmSync } from "node:fs";
import type { DatabaseConfig, UnderstudyConfig } from "../config/types";
import { digestDatabase } from "../fleet/rowHash";
import { currentFormat } from "../litestream/format";
import { formatWalPosition } from "../replica/layout";
import { hex16 } from "../replica/ltxLayout";
import { readManifest } from "../replica/manifest";
import { openStore, replicaPrefix } from "../store/open";
import { type BuildProgress, buildFromReplica } from "./build";
import { buildFromLtx } from "./buildLtx";

export interface RestoreResult {
  database: string;
  output: string;
  /** The Litestream line whose replica it came from. */
  format: "0.3" | "0.5";
  /** 0.3: the generation; 0.5: "ltx". */
  generation: string;
  /** 0.3: WAL index/offset; 0.5: the TXID. */
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
  const prefix = replicaPrefix(cfg.store, db.replicaPath);
  try {
    // Built aside under the line that wrote the replica's current history; `out` gets the name only when whole.
    const built: Omit<RestoreResult, "database" | "output" | "rows" | "integrity"> =
      (await currentFormat(store, prefix)) === "0.5"
        ? await buildFromLtx(store, prefix, tmp, { at: opts.at }).then((r) => ({
            format: "0.5" as const,
            generation: "ltx",
            position: `txid ${hex16(r.txid)}`,
            upTo: r.upTo.toISOString(),
            segments: r.files,
            bytesDownloaded: r.bytesDownloaded,
          }))
        : await buildFromReplica(store, prefix, tmp, {
            ...opts,
            // The current primary's generation, as its manifest names it, unless restoring to a point in time.
            generation: opts.at
              ? undefined
              : (await readManifest(store, cfg.store.prefix).catch(() => undefined))?.databases[db.replicaPath]
                  ?.generation,
          }).then((r) => ({
            format: "0.3" as const,
            generation: r.generation.id,
            position: formatWalPosition(r.position.index, r.position.offset),
            upTo: r.position.sourceUploadedAt,
            segments: r.segments,
            bytesDownloaded: r.bytesDownloaded,
          }));
    renameSync(tmp, out);
    const d = digestDatabase(out);
    return { database: db.name, output: out, ...built, rows: d.rows, integrity: d.integrity };
  } finally {
    rmSync(tmp, { force: true });
  }
}
