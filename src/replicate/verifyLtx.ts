import { decodeLtx } from "../replica/ltx";
import { hex16, listLtx, newestTxid, restorePlan, SNAPSHOT_LEVEL } from "../replica/ltxLayout";
import type { ReplicaStore } from "../store/store";
import type { VerifyRow } from "./verify";

/**
 * verify for a Litestream 0.5 replica: its snapshots (level 9) and other LTX files, the newest upload, and — with
 * `chain` — every file a restore would apply downloaded and its checksum verified, the chain from the newest
 * snapshot reaching the newest TXID. Fills the same row as for 0.3 (snapshots, "segments" are the LTX files).
 */
export async function verifyLtxReplica(
  store: ReplicaStore,
  row: VerifyRow,
  o: { chain: boolean; now: Date; localChangeAt?: Date; allowedTrail: number; allowedSnapshotAge: number },
): Promise<VerifyRow> {
  const files = await listLtx(store, row.prefix);
  const snaps = files.filter((f) => f.level === SNAPSHOT_LEVEL);
  const deltas = files.filter((f) => f.level !== SNAPSHOT_LEVEL);
  const newestSnap = snaps.reduce<(typeof files)[number] | undefined>((a, b) => (!a || b.at > a.at ? b : a), undefined);
  const newestFile = files.reduce<(typeof files)[number] | undefined>((a, b) => (!a || b.at > a.at ? b : a), undefined);
  const top = newestTxid(files);
  const out: VerifyRow = {
    ...row,
    format: "0.5",
    generations: 0,
    generation: undefined,
    snapshots: snaps.length,
    newestSnapshotAt: newestSnap?.at.toISOString(),
    newestSnapshotAgeMs: newestSnap ? o.now.getTime() - newestSnap.at.getTime() : undefined,
    walSegments: deltas.length,
    newestWal: top ? `txid ${hex16(top)}` : undefined,
    newestWalAt: newestFile?.at.toISOString(),
    newestWalAgeMs: newestFile ? o.now.getTime() - newestFile.at.getTime() : undefined,
    bytes: files.reduce((a, f) => a + f.size, 0),
  };
  if (o.localChangeAt) {
    out.localChangeAt = o.localChangeAt.toISOString();
    if (newestFile) out.trailingMs = Math.max(0, o.localChangeAt.getTime() - newestFile.at.getTime());
  }
  const plan = restorePlan(files);
  if (!files.length) return { ...out, status: "no-replica", detail: "nothing in the store at this path" };
  if (!plan)
    return { ...out, status: "no-snapshot", detail: "no Litestream 0.5 snapshot (ltx/9): it cannot be restored" };
  if (!plan.complete)
    return {
      ...out,
      status: "broken",
      detail: `the LTX files from the newest snapshot reach TXID ${hex16(plan.txid)}, not the newest ${hex16(top)}: a restore stops there (a gap: files missing)`,
    };
  if (o.chain) {
    let checked = 0;
    for (const f of plan.files) {
      try {
        decodeLtx(await store.get(f.key));
        checked++;
      } catch (e) {
        return {
          ...out,
          chainSegments: checked,
          status: "broken",
          detail: `corrupt LTX file ${f.key}: ${(e as Error).message}; a restore stops before it`,
        };
      }
    }
    out.chainSegments = checked;
  }
  if (out.newestSnapshotAgeMs !== undefined && out.newestSnapshotAgeMs > o.allowedSnapshotAge)
    return {
      ...out,
      status: "stale-snapshot",
      detail: "newest snapshot is older than twice the tier's snapshot interval",
    };
  if (
    out.trailingMs !== undefined &&
    out.trailingMs > o.allowedTrail &&
    o.now.getTime() - (o.localChangeAt?.getTime() ?? 0) > o.allowedTrail
  )
    return {
      ...out,
      status: "behind",
      detail: `the local database changed ${Math.round(out.trailingMs / 1000)}s after the newest upload`,
    };
  return out;
}
