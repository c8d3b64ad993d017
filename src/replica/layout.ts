import type { ReplicaStore, StoredObject } from "../store/store";

/**
 * Litestream 0.3's replica layout, in one place: every key, position and name understudy reads or writes
 * about a replica is built and parsed here, so a second format (Litestream 0.5's LTX files) is one more module
 * beside this one rather than edits in every reader.
 *
 *   PREFIX/generations/GEN/snapshots/IDX.snapshot.lz4     GEN: 16 hex, IDX: WAL index, 8 hex
 *   PREFIX/generations/GEN/wal/IDX_OFF.wal.lz4             OFF: byte offset in that WAL, 8 hex
 *
 * A position is "GEN/IDX:OFF" with OFF in decimal, as Litestream logs it.
 */

/** A point in a replica: a generation, a WAL index and a byte offset in that index's WAL. */
export interface ReplicaPoint {
  generation: string;
  index: number;
  offset: number;
}

export function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

export function generationsPrefix(prefix: string): string {
  return `${prefix}/generations/`;
}

export function snapshotsPrefix(prefix: string, generation: string): string {
  return `${prefix}/generations/${generation}/snapshots/`;
}

/** The WAL directory of a generation, or of one WAL index in it. */
export function walPrefix(prefix: string, generation: string, index?: number): string {
  return `${prefix}/generations/${generation}/wal/${index === undefined ? "" : `${hex8(index)}_`}`;
}

export function segmentKey(prefix: string, generation: string, index: number, offset: number): string {
  return `${walPrefix(prefix, generation, index)}${hex8(offset)}.wal.lz4`;
}

/** The WAL index of a snapshot key under `snapshotsPrefix`, or undefined for anything else. */
export function snapshotIndex(key: string, dir: string): number | undefined {
  const m = /^([0-9a-f]{8})\.snapshot\.lz4$/.exec(key.slice(dir.length));
  return key.startsWith(dir) && m ? parseInt(m[1], 16) : undefined;
}

/** The offset of a segment key under `walPrefix(…, index)`, or undefined for anything else. */
export function segmentOffset(key: string, indexDir: string): number | undefined {
  const m = /^([0-9a-f]{8})\.wal\.lz4$/.exec(key.slice(indexDir.length));
  return key.startsWith(indexDir) && m ? parseInt(m[1], 16) : undefined;
}

/** "IDX:OFF", how a point within a generation is shown. */
export function formatWalPosition(index: number, offset: number): string {
  return `${hex8(index)}:${offset}`;
}

/** "GEN/IDX:OFF", as Litestream logs positions. */
export function formatPosition(p: ReplicaPoint): string {
  return `${p.generation}/${formatWalPosition(p.index, p.offset)}`;
}

/** "GEN/IDX:OFF" → parts; undefined for anything else. */
export function parsePosition(p: string | undefined): ReplicaPoint | undefined {
  const m = p ? /^([0-9a-f]{16})\/([0-9a-f]{8}):(\d+)$/.exec(p) : null;
  return m ? { generation: m[1], index: parseInt(m[2], 16), offset: Number(m[3]) } : undefined;
}

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
  for await (const o of store.list(generationsPrefix(prefix))) objects.push(o);
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
  const base = generationsPrefix(prefix);
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
