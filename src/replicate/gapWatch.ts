import { hex8 } from "../follower/position";
import type { LitestreamEvent } from "../litestream/events";
import type { ReplicaStore } from "../store/store";

interface Upload {
  generation: string;
  index: number;
  offset: number;
}

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
    const m = /^([0-9a-f]{16})\/([0-9a-f]{8}):(\d+)$/.exec(e.position);
    if (!m) return;
    const list = this.uploads.get(e.db) ?? [];
    // Bounded: a check that cannot run (store down) must not make this grow without end.
    if (list.length < 100_000) list.push({ generation: m[1], index: parseInt(m[2], 16), offset: Number(m[3]) });
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
        for (const u of uploads) byGen.set(u.generation, [...(byGen.get(u.generation) ?? []), u]);
        for (const [generation, us] of byGen) {
          const base = `${prefix}/generations/${generation}`;
          // Retention removes WAL only before a snapshot it keeps: what lies before the newest snapshot may go.
          let newestSnap = -1;
          for await (const o of store.list(`${base}/snapshots/`))
            newestSnap = Math.max(newestSnap, parseInt(o.key.slice(base.length + 11, base.length + 19), 16));
          const missing: string[] = [];
          for (const index of new Set(us.map((u) => u.index))) {
            if (index < newestSnap) continue;
            const have = new Set<string>();
            const walPrefix = `${base}/wal/${hex8(index)}_`;
            for await (const o of store.list(walPrefix)) have.add(o.key.slice(walPrefix.length, walPrefix.length + 8));
            for (const u of us)
              if (u.index === index && !have.has(hex8(u.offset))) missing.push(`${hex8(u.index)}:${u.offset}`);
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
