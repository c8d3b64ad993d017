import { existsSync, readFileSync } from "node:fs";
import { formatPosition } from "../replica/layout";
import { writeFileAtomic } from "../util/atomic";
import { CorruptDataError } from "../util/lz4";
import { parseFrames, parseWalHeader, WAL_HEADER_SIZE, type WalChain, type WalTransaction } from "./wal";

/** Where a standby copy stands in its replica: the next segment to fetch and the checksum chain to continue. */
export interface FollowPosition {
  generation: string;
  index: number;
  /** Raw WAL offset within `index` where the next segment starts. */
  offset: number;
  pageSize: number;
  /** Chain after the last committed frame of this index; absent at offset 0, where a WAL header comes first. */
  chain?: WalChain;
  /** Frames after the last commit, carried to the next segment (base64). */
  pending?: string;
  dbPages: number;
  /** Upload time of the newest segment applied, when known. */
  sourceUploadedAt?: string;
  /**
   * A copy of a Litestream 0.5 replica: the TXID it stands at (16 hex digits); generation, index, offset, chain
   * and pending then mean nothing.
   */
  txid?: string;
  appliedAt: string;
  /** Written by a follower that marks its change counters (see standbyCounter): the copy's counter is checked. */
  counters?: boolean;
}

/**
 * Folds one decoded WAL segment into a position: validates the header (at offset 0) and every frame's
 * checksum, returns the committed transactions and the position after them. Throws CorruptDataError and
 * leaves the position untouched when anything does not chain.
 */
export function consumeSegment(
  pos: FollowPosition,
  raw: Buffer,
): { next: FollowPosition; transactions: WalTransaction[] } {
  let chain = pos.chain;
  let frames = raw;
  if (pos.offset === 0) {
    chain = parseWalHeader(raw);
    // A page size of 0 takes the WAL's own (a check of the chain that never reads the snapshot).
    if (pos.pageSize && chain.pageSize !== pos.pageSize)
      throw new CorruptDataError(`wal: page size ${chain.pageSize} differs from the database's ${pos.pageSize}`);
    frames = raw.subarray(WAL_HEADER_SIZE);
  }
  if (!chain) throw new CorruptDataError("wal: segment continues a WAL whose header was never seen");
  const carried = pos.pending ? Buffer.from(pos.pending, "base64") : Buffer.alloc(0);
  const data = carried.length ? Buffer.concat([carried, frames]) : frames;
  const parsed = parseFrames(data, chain);
  const rest = data.subarray(parsed.committedBytes);
  const last = parsed.transactions[parsed.transactions.length - 1];
  return {
    transactions: parsed.transactions,
    next: {
      ...pos,
      pageSize: chain.pageSize,
      offset: pos.offset + raw.length,
      chain: parsed.chain,
      pending: rest.length ? rest.toString("base64") : undefined,
      dbPages: last ? last.dbPages : pos.dbPages,
    },
  };
}

/** Several transactions as one: the newest image of each page, and the final size. */
export function mergeTransactions(
  txs: WalTransaction[],
  dbPages: number,
): { pages: Map<number, Buffer>; dbPages: number } {
  const pages = new Map<number, Buffer>();
  for (const t of txs) for (const [p, d] of t.pages) pages.set(p, d);
  const size = txs.length ? txs[txs.length - 1].dbPages : dbPages;
  for (const p of [...pages.keys()]) if (p > size) pages.delete(p);
  return { pages, dbPages: size };
}

export function readPosition(file: string): FollowPosition | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as FollowPosition;
  } catch {
    return undefined;
  }
}

/**
 * No fsync: applying a transaction twice writes the same page images, so a position that is older than the
 * database after a power cut only makes the follower re-apply, and a lost file only makes it bootstrap.
 */
export function writePosition(file: string, pos: FollowPosition): void {
  writeFileAtomic(file, `${JSON.stringify({ ...pos, counters: true })}\n`, 0o644, false);
}

/** The copy's position as status shows it (and as entryPosition names the manifest's). */
export function copyPosition(p: FollowPosition): string {
  return p.txid !== undefined ? `txid ${p.txid}` : formatPosition(p);
}
