import type { ReplicaStore, StoredObject } from "../store/store";

export interface SnapshotEntry {
  index: number;
  key: string;
  size: number;
  at: Date;
}

export interface WalSegmentEntry {
  index: number;
  offset: number;
  key: string;
  size: number;
  at: Date;
}

export interface GenerationSummary {
  id: string;
  snapshots: SnapshotEntry[];
  wal: WalSegmentEntry[];
  /** Newest upload of any kind in this generation. */
  updatedAt?: Date;
}

export interface ReplicaSummary {
  prefix: string;
  generations: GenerationSummary[];
  /** The generation Litestream restores from by default: the one with the newest data. */
  current?: GenerationSummary;
  bytes: number;
  objects: number;
}

const SNAPSHOT = /^([0-9a-f]{16})\/snapshots\/([0-9a-f]{8})\.snapshot\.lz4$/;
const WAL = /^([0-9a-f]{16})\/wal\/([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/;

/** Reads Litestream 0.3's replica layout (generations/<gen>/{snapshots,wal}/...) from one flat listing. */
export async function summarizeReplica(store: ReplicaStore, prefix: string): Promise<ReplicaSummary> {
  const objects: StoredObject[] = [];
  for await (const o of store.list(`${prefix}/generations/`)) objects.push(o);
  return summarizeObjects(prefix, objects);
}

export function summarizeObjects(prefix: string, objects: StoredObject[]): ReplicaSummary {
  const gens = new Map<string, GenerationSummary>();
  const gen = (id: string) => {
    let g = gens.get(id);
    if (!g) {
      g = { id, snapshots: [], wal: [] };
      gens.set(id, g);
    }
    return g;
  };
  let bytes = 0;
  const base = `${prefix}/generations/`;
  for (const o of objects) {
    bytes += o.size;
    const rel = o.key.slice(base.length);
    const s = SNAPSHOT.exec(rel);
    const w = s ? null : WAL.exec(rel);
    const g = s ? gen(s[1]) : w ? gen(w[1]) : undefined;
    if (!g) continue;
    if (s) g.snapshots.push({ index: parseInt(s[2], 16), key: o.key, size: o.size, at: o.lastModified });
    if (w)
      g.wal.push({
        index: parseInt(w[2], 16),
        offset: parseInt(w[3], 16),
        key: o.key,
        size: o.size,
        at: o.lastModified,
      });
    if (!g.updatedAt || o.lastModified > g.updatedAt) g.updatedAt = o.lastModified;
  }
  const generations = [...gens.values()];
  for (const g of generations) {
    g.snapshots.sort((a, b) => a.index - b.index);
    g.wal.sort((a, b) => a.index - b.index || a.offset - b.offset);
  }
  generations.sort((a, b) => (a.updatedAt?.getTime() ?? 0) - (b.updatedAt?.getTime() ?? 0));
  const current = [...generations].reverse().find((g) => g.snapshots.length > 0);
  return { prefix, generations, current, bytes, objects: objects.length };
}

export function newestSnapshot(g: GenerationSummary | undefined): SnapshotEntry | undefined {
  return g?.snapshots.reduce<SnapshotEntry | undefined>((a, b) => (!a || b.at > a.at ? b : a), undefined);
}

export function newestWal(g: GenerationSummary | undefined): WalSegmentEntry | undefined {
  return g?.wal[g.wal.length - 1];
}
