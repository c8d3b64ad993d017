import { closeSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { type GenerationSummary, segmentKey, summarizeReplica, type WalSegmentEntry } from "../replica/layout";
import type { ReplicaStore } from "../store/store";
import { CorruptDataError, decodeLz4Frame } from "../util/lz4";
import { standbyCounter, standbyPageOne } from "./liveDatabase";
import { consumeSegment, type FollowPosition, mergeTransactions } from "./position";

/** The replica cannot be built past a point: no snapshot yet, or a WAL segment missing after the snapshot. */
export class ReplicaGapError extends Error {
  constructor(
    message: string,
    /** Where the chain breaks, when it breaks inside a generation. */
    readonly at?: { generation: string; index: number; offset: number },
    readonly key?: string,
  ) {
    super(message);
    this.name = "ReplicaGapError";
  }
}

export interface BuildProgress {
  phase: "snapshot" | "wal";
  done: number;
  total: number;
  bytes: number;
}

export interface BuildResult {
  position: FollowPosition;
  generation: GenerationSummary;
  segments: number;
  bytesDownloaded: number;
  /** With stopAtBreak: where the chain broke (a missing or corrupt segment); the file holds everything before it. */
  broken?: {
    kind: "gap" | "corrupt";
    message: string;
    key: string;
    at: { generation: string; index: number; offset: number };
  };
}

function writeAll(fd: number, buf: Buffer, pos: number): void {
  let n = 0;
  while (n < buf.length) n += writeSync(fd, buf, n, buf.length - n, pos + n);
}

/** Writes committed page images straight into a file nobody else has open (a bootstrap aside, a restore). */
export function applyToPrivateFile(fd: number, pages: Map<number, Buffer>, dbPages: number, pageSize: number): void {
  for (const [pgno, data] of pages) if (pgno <= dbPages) writeAll(fd, data, (pgno - 1) * pageSize);
  ftruncateSync(fd, dbPages * pageSize);
}

/**
 * Builds a database from the replica into `outPath`: the newest snapshot (at or before `at`, if given), then
 * every WAL segment after it in order, each checked for continuity and checksums. Used for the standby's
 * bootstrap (built aside, then swapped in) and for point-in-time restore.
 */
export async function buildFromReplica(
  store: ReplicaStore,
  prefix: string,
  outPath: string,
  opts: {
    at?: Date;
    onProgress?: (p: BuildProgress) => void;
    stopAtBreak?: boolean;
    /**
     * The generation the current primary publishes (its epoch's): preferred over "the newest upload", which a
     * fenced node's late upload into its old generation could otherwise win.
     */
    generation?: string;
  } = {},
): Promise<BuildResult> {
  const summary = await summarizeReplica(store, prefix);
  const at = opts.at;
  const candidates = summary.generations
    .map((g) => ({ g, snaps: g.snapshots.filter((s) => !at || s.at <= at) }))
    .filter((c) => c.snaps.length > 0)
    .sort((a, b) => +(a.g.updatedAt ?? 0) - +(b.g.updatedAt ?? 0));
  const named = !at && opts.generation ? candidates.find((c) => c.g.id === opts.generation) : undefined;
  const chosen =
    named ??
    (at
      ? candidates.sort((a, b) => +a.snaps[a.snaps.length - 1].at - +b.snaps[b.snaps.length - 1].at).pop()
      : candidates.pop());
  if (!chosen) {
    throw new ReplicaGapError(
      at ? `no snapshot at or before ${at.toISOString()} under ${prefix}` : `no snapshot under ${prefix} yet`,
    );
  }
  const gen = chosen.g;
  const snap = chosen.snaps.reduce((a, b) => (b.index > a.index || (b.index === a.index && b.at > a.at) ? b : a));
  const segments = gen.wal.filter((w) => w.index >= snap.index && (!at || w.at <= at));
  const total = 1 + segments.length;
  let bytes = 0;
  opts.onProgress?.({ phase: "snapshot", done: 0, total, bytes });

  const compressed = await store.get(snap.key);
  bytes += compressed.length;
  const image = decodeLz4Frame(compressed);
  if (image.length < 100 || image.subarray(0, 15).toString("latin1") !== "SQLite format 3")
    throw new CorruptDataError(`snapshot ${snap.key} is not a SQLite database`);
  const rawPage = image.readUInt16BE(16);
  const pageSize = rawPage === 1 ? 65536 : rawPage;
  if (image.length % pageSize !== 0) throw new CorruptDataError(`snapshot ${snap.key} is not a whole number of pages`);

  const fd = openSync(outPath, "w+");
  try {
    writeAll(fd, image, 0);
    let pos: FollowPosition = {
      generation: gen.id,
      index: snap.index,
      offset: 0,
      pageSize,
      dbPages: image.length / pageSize,
      appliedAt: new Date().toISOString(),
      sourceUploadedAt: snap.at.toISOString(),
    };
    const walked = await walkChain(store, prefix, gen.id, segments, pos, {
      stopAtBreak: opts.stopAtBreak,
      apply: (pages, dbPages) => applyToPrivateFile(fd, pages, dbPages, pageSize),
      onSegment: (n, b) => opts.onProgress?.({ phase: "wal", done: 1 + n, total, bytes: bytes + b }),
    });
    pos = walked.position;
    bytes += walked.bytes;
    const { applied, broken } = walked;
    // A private copy takes the standby's page-1 form: rollback-journal mode, a fresh change counter.
    const page1 = Buffer.alloc(pageSize);
    readSync(fd, page1, 0, pageSize, 0);
    writeAll(fd, standbyPageOne(page1, standbyCounter(page1.readUInt32BE(24)), pos.dbPages), 0);
    ftruncateSync(fd, pos.dbPages * pageSize);
    fsyncSync(fd);
    return { position: pos, generation: gen, segments: applied, bytesDownloaded: bytes, broken };
  } finally {
    closeSync(fd);
  }
}

export interface ChainBreak {
  kind: "gap" | "corrupt";
  message: string;
  key: string;
  at: { generation: string; index: number; offset: number };
}

/**
 * Follows a generation's WAL segments from `start` in order, each checked for continuity (offsets, WAL index
 * roll-overs) and checksums, handing every committed transaction's pages to `apply`. The one reading of the
 * chain that builds, restores and verify share. Throws ReplicaGapError or CorruptDataError at a break, or with
 * stopAtBreak returns where it broke with everything before it applied.
 */
export async function walkChain(
  store: ReplicaStore,
  prefix: string,
  generation: string,
  segments: WalSegmentEntry[],
  start: FollowPosition,
  opts: {
    stopAtBreak?: boolean;
    apply?: (pages: Map<number, Buffer>, dbPages: number) => void;
    onSegment?: (applied: number, bytes: number) => void;
  } = {},
): Promise<{ position: FollowPosition; applied: number; bytes: number; broken?: ChainBreak }> {
  let pos = start;
  let applied = 0;
  let bytes = 0;
  for (const seg of segments) {
    if (seg.index < pos.index) continue;
    if (seg.index === pos.index + 1 && seg.offset === 0 && pos.offset > 0) {
      // Litestream started the next WAL index: its header restarts the chain; an uncommitted tail never commits.
      pos = { ...pos, index: seg.index, offset: 0, chain: undefined, pending: undefined };
    }
    const at = { generation, index: pos.index, offset: pos.offset };
    if (seg.index !== pos.index || seg.offset !== pos.offset) {
      if (seg.index === pos.index && seg.offset < pos.offset) continue;
      const gap = new ReplicaGapError(
        `${prefix}: expected WAL segment ${pos.index.toString(16)}:${pos.offset}, found ${seg.index.toString(16)}:${seg.offset}`,
        at,
        segmentKey(prefix, generation, pos.index, pos.offset),
      );
      if (!opts.stopAtBreak) throw gap;
      return {
        position: pos,
        applied,
        bytes,
        broken: { kind: "gap", message: gap.message, key: gap.key as string, at },
      };
    }
    const raw = await store.get(seg.key);
    bytes += raw.length;
    let step: ReturnType<typeof consumeSegment>;
    try {
      step = consumeSegment(pos, decodeLz4Frame(raw));
    } catch (e) {
      const bad = new CorruptDataError(`${seg.key}: ${(e as Error).message}`);
      if (!opts.stopAtBreak) throw bad;
      return { position: pos, applied, bytes, broken: { kind: "corrupt", message: bad.message, key: seg.key, at } };
    }
    if (step.transactions.length && opts.apply) {
      const merged = mergeTransactions(step.transactions, pos.dbPages);
      opts.apply(merged.pages, merged.dbPages);
    }
    pos = { ...step.next, sourceUploadedAt: seg.at.toISOString() };
    applied++;
    opts.onSegment?.(applied, bytes);
  }
  return { position: pos, applied, bytes };
}
