import type { ReplicaStore } from "../store/store";

/**
 * Where Litestream 0.5 keeps a database's replica: `PREFIX/ltx/LEVEL/MINTXID-MAXTXID.ltx`, TXIDs as 16 hex
 * digits. Level 0 holds one file per sync (MIN = MAX) for a few minutes (l0-retention); levels 1-3 compact them
 * over growing windows; level 9 holds snapshots (MIN = 1, every page).
 */
export const SNAPSHOT_LEVEL = 9;
export const LEVELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, SNAPSHOT_LEVEL];

export interface LtxFileInfo {
  key: string;
  level: number;
  minTxid: bigint;
  maxTxid: bigint;
  size: number;
  /** When the store got it. */
  at: Date;
}

export const hex16 = (n: bigint) => n.toString(16).padStart(16, "0");

/** A TXID written as Litestream writes it (16 hex digits). */
export const parseTxid = (hex: string): bigint => BigInt(`0x${hex}`);

/** A 0.5 replica's position as replicate-state and status keep it: `ltx/` and the TXID. */
export const ltxPosition = (txid: bigint): string => `ltx/${hex16(txid)}`;

/** The TXID of a position `ltxPosition` wrote; undefined for anything else (a 0.3 position, none). */
export function positionTxid(position: string | undefined): bigint | undefined {
  return position?.startsWith("ltx/") ? parseTxid(position.slice(4)) : undefined;
}

export function ltxKey(prefix: string, level: number, min: bigint, max: bigint): string {
  return `${prefix}/ltx/${level}/${hex16(min)}-${hex16(max)}.ltx`;
}

/** The level and TXID range in a key under `prefix`; undefined for anything else. */
export function parseLtxKey(prefix: string, key: string): Omit<LtxFileInfo, "size" | "at"> | undefined {
  const m = /^ltx\/(\d+)\/([0-9a-f]{16})-([0-9a-f]{16})\.ltx$/.exec(key.slice(prefix.length + 1));
  if (!m || !key.startsWith(`${prefix}/`)) return undefined;
  return { key, level: Number(m[1]), minTxid: parseTxid(m[2]), maxTxid: parseTxid(m[3]) };
}

/** Every LTX file of one replica (a listing per level), each level ordered by TXID. */
export async function listLtx(store: ReplicaStore, prefix: string, levels = LEVELS): Promise<LtxFileInfo[]> {
  const out: LtxFileInfo[] = [];
  for (const level of levels)
    for await (const o of store.list(`${prefix}/ltx/${level}/`)) {
      const p = parseLtxKey(prefix, o.key);
      if (p && p.level === level) out.push({ ...p, size: o.size, at: o.lastModified });
    }
  return out.sort((a, b) => a.level - b.level || (a.minTxid < b.minTxid ? -1 : a.minTxid > b.minTxid ? 1 : 0));
}

/**
 * The files that rebuild the database up to `upTo` (a TXID; the newest when unset) or to what the store had at
 * `at`: the newest snapshot within it, then at each step the file that starts at or before the next TXID and
 * reaches furthest (a compacted file may begin before it: re-applying pages already at their later state is
 * harmless, as each file holds every changed page's state at its MAXTXID). Undefined when there is no snapshot.
 * Returns the files in order, and whether the chain reached the newest TXID the store has (a gap otherwise).
 */
export function restorePlan(
  files: LtxFileInfo[],
  opts: { upTo?: bigint; at?: Date } = {},
): { files: LtxFileInfo[]; txid: bigint; complete: boolean } | undefined {
  const within = files.filter(
    (f) => (opts.upTo === undefined || f.maxTxid <= opts.upTo) && (!opts.at || f.at <= opts.at),
  );
  const snaps = within.filter((f) => f.level === SNAPSHOT_LEVEL && f.minTxid === 1n);
  if (!snaps.length) return undefined;
  const snap = snaps.reduce((a, b) => (b.maxTxid > a.maxTxid ? b : a));
  const plan = [snap];
  let cur = snap.maxTxid;
  const deltas = within.filter((f) => f.level !== SNAPSHOT_LEVEL);
  for (let best = furthestFrom(deltas, cur); best; best = furthestFrom(deltas, cur)) {
    plan.push(best);
    cur = best.maxTxid;
  }
  return { files: plan, txid: cur, complete: cur >= newestTxid(within) };
}

/**
 * Of the files that hold the TXID after `cur` (a compacted one may begin before it), the one reaching furthest;
 * undefined when none does. The one rule for restores and for the follower's way past a retention.
 */
export function furthestFrom<T extends Pick<LtxFileInfo, "minTxid" | "maxTxid">>(
  files: T[],
  cur: bigint,
): T | undefined {
  let best: T | undefined;
  for (const f of files) if (f.minTxid <= cur + 1n && f.maxTxid > cur && (!best || f.maxTxid > best.maxTxid)) best = f;
  return best;
}

/** The highest TXID any of the files reaches; 0 for none. (BigInt: Math.max does not take them.) */
export function newestTxid(files: Pick<LtxFileInfo, "maxTxid">[]): bigint {
  let top = 0n;
  for (const f of files) if (f.maxTxid > top) top = f.maxTxid;
  return top;
}
