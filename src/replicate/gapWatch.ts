import type { LitestreamEvent } from "../litestream/events";
import {
  formatWalPosition,
  parsePosition,
  type ReplicaPoint,
  segmentOffset,
  snapshotIndex,
  snapshotsPrefix,
  walPrefix,
} from "../replica/layout";
import type { ReplicaStore } from "../store/store";

type Upload = ReplicaPoint;

export interface ReplicaGap {
  /** Absolute path of the primary's database. */
  db: string;
  generation: string;
  /** "index:offset" of each segment Litestream reported uploading that the store does not hold. */
  missing: string[];
}

/**
 * The primary's own check of its replica: every WAL segment Litestream says it wrote must be in the store. A
 * store that loses acknowledged segments (a crash before it persisted them, a deleted blob) leaves a gap that
 * no standby can cross until a snapshot after it exists, and Litestream 0.3 would not write one for hours.
 * Costs one listing of the snapshots and one per WAL index touched, per database with uploads, per check.
 */
export class GapWatch {
  private readonly uploads = new Map<string, Upload[]>();

  constructor(private readonly prefixOf: (dbPath: string) => string | undefined) {}

  /** Feeds one of Litestream's log events; only "wal segment written" matters here. */
  record(e: LitestreamEvent): void {
    if (e.msg !== "wal segment written" || !e.db || !e.position) return;
    const p = parsePosition(e.position);
    if (!p) return;
    const list = this.uploads.get(e.db) ?? [];
    // Bounded: a check that cannot run (store down) must not make this grow without end.
    if (list.length < 100_000) list.push(p);
    this.uploads.set(e.db, list);
  }

  /** Checks what was recorded since the last check; what the store cannot answer for now is kept for next time. */
  async check(store: ReplicaStore): Promise<ReplicaGap[]> {
    const gaps: ReplicaGap[] = [];
    const batch = [...this.uploads.entries()];
    this.uploads.clear();
    for (const [db, uploads] of batch) {
      const prefix = this.prefixOf(db);
      if (!prefix) continue;
      try {
        const byGen = new Map<string, Upload[]>();
        for (const u of uploads) {
          const list = byGen.get(u.generation);
          if (list) list.push(u);
          else byGen.set(u.generation, [u]);
        }
        for (const [generation, us] of byGen) {
          // Retention removes WAL only before a snapshot it keeps: what lies before the newest snapshot may go.
          let newestSnap = -1;
          const snaps = snapshotsPrefix(prefix, generation);
          for await (const o of store.list(snaps)) newestSnap = Math.max(newestSnap, snapshotIndex(o.key, snaps) ?? -1);
          const missing: string[] = [];
          for (const index of new Set(us.map((u) => u.index))) {
            if (index < newestSnap) continue;
            const have = new Set<number>();
            const dir = walPrefix(prefix, generation, index);
            for await (const o of store.list(dir)) have.add(segmentOffset(o.key, dir) ?? -1);
            for (const u of us)
              if (u.index === index && !have.has(u.offset)) missing.push(formatWalPosition(u.index, u.offset));
          }
          if (missing.length) gaps.push({ db, generation, missing });
        }
      } catch {
        const kept = this.uploads.get(db) ?? [];
        this.uploads.set(db, [...uploads, ...kept]);
      }
    }
    return gaps;
  }
}
