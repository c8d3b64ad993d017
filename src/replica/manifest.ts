import type { ReplicaStore } from "../store/store";
import { formatPosition } from "./layout";
import { parseTxid } from "./ltxLayout";

/** What the primary's replicate role publishes after uploads, so the standby needs no listings to find news. */
export interface PositionsManifest {
  version: 1;
  node: string;
  /** The lease epoch the publishing primary held: what a fenced node publishes late is of an older one. */
  epoch?: number;
  publishedAt: string;
  /**
   * The primary stopped writing (a switchover): these are its last positions, and a candidate that has applied
   * exactly them has every row it wrote.
   */
  final?: boolean;
  databases: Record<string, ManifestEntry>;
  /**
   * Which generations each epoch wrote, newest epoch first, carried forward by every new primary: after a
   * failover a fenced node may still upload into its old generation, and plain `litestream restore` takes the
   * generation touched last; this says which one is current (`litestream restore -generation GEN`).
   */
  epochs?: EpochRecord[];
}

export interface EpochRecord {
  epoch: number;
  node: string;
  /** replica path → generations this epoch uploaded, oldest first. */
  generations: Record<string, string[]>;
}

export interface ManifestEntry {
  /** Set for a Litestream 0.5 replica: then `txid` is its position, and generation/index/offset mean nothing. */
  format?: "0.5";
  /** The replica's TXID (16 hex digits), for 0.5. */
  txid?: string;
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

/** A database's position as the manifest names it, in the form the follower's status uses for its copy. */
export function entryPosition(e: ManifestEntry): string {
  return e.format === "0.5" ? `txid ${e.txid}` : formatPosition(e);
}

/** Whether `e` names a position past `before` (a later TXID; a new generation, or further in the same one). */
export function entryAfter(e: ManifestEntry, before: ManifestEntry | undefined): boolean {
  if (!before) return true;
  if (e.format === "0.5" || before.format === "0.5")
    return e.txid !== undefined && (before.txid === undefined || parseTxid(e.txid) > parseTxid(before.txid));
  return (
    e.generation !== before.generation ||
    e.index > before.index ||
    (e.index === before.index && e.offset > before.offset)
  );
}

/** How many epochs the manifest remembers. */
const EPOCHS_KEPT = 20;

export function manifestKey(prefix: string): string {
  return `${prefix}.understudy/positions.json`;
}

function parseManifest(b: Buffer): PositionsManifest | undefined {
  try {
    const m = JSON.parse(b.toString("utf8")) as PositionsManifest;
    return m.version === 1 && m.databases ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The manifest as published; undefined when there is none (or it is not one understudy wrote). */
export async function readManifest(store: ReplicaStore, prefix: string): Promise<PositionsManifest | undefined> {
  const b = await store.getIfExists(manifestKey(prefix));
  return b ? parseManifest(b) : undefined;
}

/** A newer epoch's primary publishes now: this node was fenced and must publish nothing more. */
export class ManifestSupersededError extends Error {
  constructor(
    readonly mine: number | undefined,
    readonly theirs: PositionsManifest,
  ) {
    super(
      `the positions manifest is ${theirs.node}'s at epoch ${theirs.epoch}, newer than this node's epoch ${mine}: not overwritten`,
    );
    this.name = "ManifestSupersededError";
  }
}

/**
 * Publishes the manifest with conditional writes only, so a fenced node that publishes late can never replace
 * what a newer epoch's primary published: each write is conditional on the ETag of a manifest whose epoch was
 * checked to be no newer than this one's. `etag` is what the caller's last write returned (one PUT in steady
 * state); without it, or when someone wrote since, the current manifest is read and checked first. Carries the
 * epochs' record forward (pass the last written one's `epochs` in `m`). Returns what was written and its ETag;
 * ManifestSupersededError when a newer epoch publishes.
 */
export async function writeManifest(
  store: ReplicaStore,
  prefix: string,
  m: PositionsManifest,
  etag?: string,
): Promise<{ etag: string; written: PositionsManifest }> {
  const key = manifestKey(prefix);
  let previous: PositionsManifest | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (etag) {
      const written = withEpochs(m, previous);
      const next = await store.replaceIfUnchanged(key, Buffer.from(JSON.stringify(written)), etag);
      if (next) return { etag: next, written };
    }
    const cur = await store.getVersioned(key);
    previous = cur ? parseManifest(cur.body) : undefined;
    if (previous && (previous.epoch ?? 0) > (m.epoch ?? 0)) throw new ManifestSupersededError(m.epoch, previous);
    if (!cur) {
      const written = withEpochs(m, undefined);
      const created = await store.createIfAbsent(key, Buffer.from(JSON.stringify(written)));
      if (created) return { etag: created, written };
      continue;
    }
    etag = cur.etag;
  }
  throw new Error(`${key}: could not publish the positions: it kept changing`);
}

/** The epochs' record: what was there (when known) plus this epoch's generations, newest first. */
function withEpochs(m: PositionsManifest, previous: PositionsManifest | undefined): PositionsManifest {
  if (m.epoch === undefined) return m;
  const earlier = (previous?.epochs ?? m.epochs ?? []).filter((e) => e.epoch !== m.epoch);
  const mine = (previous?.epochs ?? m.epochs ?? []).find((e) => e.epoch === m.epoch);
  const generations: Record<string, string[]> = { ...(mine?.generations ?? {}) };
  for (const [path, d] of Object.entries(m.databases)) {
    const seen = generations[path] ?? [];
    if (!seen.includes(d.generation)) generations[path] = [...seen, d.generation];
  }
  return {
    ...m,
    epochs: [{ epoch: m.epoch, node: m.node, generations }, ...earlier].slice(0, EPOCHS_KEPT),
  };
}
