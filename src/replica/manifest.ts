import type { ReplicaStore } from "../store/store";

/** What the primary's replicate role publishes after uploads, so the standby needs no listings to find news. */
export interface PositionsManifest {
  version: 1;
  node: string;
  /** The lease epoch the publishing primary held: what a fenced node publishes late is of an older one. */
  epoch?: number;
  publishedAt: string;
  databases: Record<string, ManifestEntry>;
}

export interface ManifestEntry {
  generation: string;
  index: number;
  /** WAL byte offset where the newest uploaded segment ends: where the next one will start. */
  offset: number;
  uploadedAt: string;
  /** Newest change of the primary's database file or WAL when this was published. */
  changedAt?: string;
  /** Where recent WAL indexes ended (hex index → offset): a roll-over needs no listing when it is known here. */
  ends?: Record<string, number>;
}

export function manifestKey(prefix: string): string {
  return `${prefix}.understudy/positions.json`;
}

export async function readManifest(store: ReplicaStore, prefix: string): Promise<PositionsManifest | undefined> {
  const b = await store.getIfExists(manifestKey(prefix));
  if (!b) return undefined;
  try {
    const m = JSON.parse(b.toString("utf8")) as PositionsManifest;
    return m.version === 1 && m.databases ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Publishes the manifest (one PUT; the reader takes whatever is newest). */
export async function writeManifest(store: ReplicaStore, prefix: string, m: PositionsManifest): Promise<void> {
  await store.put(manifestKey(prefix), Buffer.from(JSON.stringify(m)));
}
