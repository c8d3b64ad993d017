import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { DatabaseChecksum, decodeLtx, type LtxFile, tracksChecksums } from "../replica/ltx";
import { hex16, listLtx, restorePlan } from "../replica/ltxLayout";
import type { ReplicaStore } from "../store/store";
import { CorruptDataError } from "../util/lz4";
import { ReplicaGapError } from "./build";
import { standbyCounter, standbyPageOne } from "./liveDatabase";

export interface LtxBuildResult {
  /** The TXID the file stands at. */
  txid: bigint;
  pageSize: number;
  /** The database's size in pages. */
  commit: number;
  files: number;
  bytesDownloaded: number;
  /** When Litestream wrote the newest file applied (its header's timestamp). */
  upTo: Date;
  /** Whether the chain reached the newest TXID in the store (false: a gap the files could not bridge). */
  complete: boolean;
}

/**
 * Applies one decoded LTX file to an open database file of `pageSize`: every page at its place, the file cut to the
 * commit size. `sum`, kept when the replica carries database checksums (Litestream 0.5.17's do not: a CRC-64 of
 * every page would then buy nothing), follows page by page and must equal the file's pre- and post-apply
 * checksums. Throws CorruptDataError (nothing of the file applied) when the page size or pre-apply checksum do not
 * match.
 */
export function applyLtx(
  fd: number,
  f: LtxFile,
  pageSize: number,
  sum: DatabaseChecksum | undefined,
  label: string,
): void {
  const h = f.header;
  if (h.pageSize !== pageSize)
    throw new CorruptDataError(`${label}: page size ${h.pageSize}, the database's is ${pageSize}`);
  const check = sum && tracksChecksums(h);
  if (check && h.minTxid !== 1n && h.preApplyChecksum !== sum.value())
    throw new CorruptDataError(
      `${label}: made for a database with checksum ${h.preApplyChecksum.toString(16)}, this one's is ${sum.value().toString(16)}`,
    );
  for (const [pgno, data] of f.pages) {
    writeSync(fd, data, 0, data.length, (pgno - 1) * h.pageSize);
    sum?.set(pgno, data);
  }
  ftruncateSync(fd, h.commit * h.pageSize);
  sum?.truncate(h.commit);
  if (check && f.postApplyChecksum !== sum.value())
    throw new CorruptDataError(
      `${label}: the database's checksum after it is ${sum.value().toString(16)}, the file says ${f.postApplyChecksum.toString(16)}`,
    );
}

/**
 * Builds a database at `outPath` from a Litestream 0.5 replica: the newest snapshot (level 9) within the target,
 * then the files that reach furthest at each step, from the compacted levels down to L0 (restorePlan). Every
 * file's checksum is verified before any of its pages is written. `upTo` stops at a TXID, `at` at what the store
 * had then. ReplicaGapError when there is no snapshot to start from.
 */
export async function buildFromLtx(
  store: ReplicaStore,
  prefix: string,
  outPath: string,
  opts: { upTo?: bigint; at?: Date } = {},
): Promise<LtxBuildResult> {
  const plan = restorePlan(await listLtx(store, prefix), opts);
  if (!plan)
    throw new ReplicaGapError(
      opts.at || opts.upTo !== undefined
        ? `no Litestream 0.5 snapshot under ${prefix} ${opts.at ? `at or before ${opts.at.toISOString()}` : `up to TXID ${hex16(opts.upTo as bigint)}`}`
        : `no Litestream 0.5 snapshot (ltx/9) under ${prefix} yet`,
    );
  const fd = openSync(outPath, "w");
  let bytes = 0;
  let sum: DatabaseChecksum | undefined;
  let pageSize = 0;
  let upTo = new Date(0);
  let commit = 0;
  try {
    for (const info of plan.files) {
      const raw = await store.get(info.key);
      bytes += raw.length;
      let f: LtxFile;
      try {
        f = decodeLtx(raw);
      } catch (e) {
        throw new CorruptDataError(`${info.key}: ${(e as Error).message}`);
      }
      if (f.header.minTxid !== info.minTxid || f.header.maxTxid !== info.maxTxid)
        throw new CorruptDataError(
          `${info.key}: holds TXIDs ${hex16(f.header.minTxid)}-${hex16(f.header.maxTxid)}, not what its name says`,
        );
      if (!pageSize) {
        pageSize = f.header.pageSize;
        if (tracksChecksums(f.header)) sum = new DatabaseChecksum(pageSize);
      }
      applyLtx(fd, f, pageSize, sum, info.key);
      upTo = new Date(f.header.timestamp);
      commit = f.header.commit;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return {
    txid: plan.txid,
    pageSize,
    commit,
    files: plan.files.length,
    bytesDownloaded: bytes,
    upTo,
    complete: plan.complete,
  };
}

/**
 * Makes a freshly built file a standby copy before it takes its place: page 1 in rollback-journal mode with the
 * follower's change counter (see standbyPageOne), as every later apply writes it.
 */
export function markStandbyCopy(path: string, pageSize: number, dbPages: number): void {
  const fd = openSync(path, "r+");
  try {
    const page1 = Buffer.alloc(pageSize);
    readSync(fd, page1, 0, pageSize, 0);
    writeSync(fd, standbyPageOne(page1, standbyCounter(page1.readUInt32BE(24)), dbPages), 0, pageSize, 0);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
