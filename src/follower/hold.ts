import {
  formatPosition,
  hex8,
  type ReplicaPoint,
  snapshotIndex,
  snapshotsPrefix,
  summarizeReplica,
} from "../replica/layout";
import type { ReplicaStore } from "../store/store";

/**
 * Why a copy cannot advance, and when to look again. A gap or a corrupt segment is never retried in a loop: the
 * follower names it once, keeps the copy at its last good state, and checks with one GET and one listing per
 * attempt, backing off, whether the segment came back or a snapshot past it exists.
 */
export interface Hold {
  kind: "gap" | "corrupt" | "disk" | "error" | "unknown-file";
  reason: string;
  /** What gets the copy past it, in words. */
  needs: string;
  /** The segment that is missing or corrupt, when known. */
  key?: string;
  generation?: string;
  index?: number;
  position?: string;
  since: number;
  attempts: number;
  nextAt: number;
}

export function holdFor(
  kind: Hold["kind"],
  reason: string,
  key: string | undefined,
  at: ReplicaPoint | undefined,
): Hold {
  const needs =
    kind === "gap" || kind === "corrupt"
      ? at
        ? `needs ${kind === "gap" ? "the missing segment back" : "a good copy of that segment"}, a snapshot of generation ${at.generation} past WAL index ${hex8(at.index)}, or a new generation (understudy replicate on the primary forces a new one when it sees a gap in its replica)`
        : "needs a snapshot in the store"
      : kind === "disk"
        ? "needs free space on the standby's data dir"
        : kind === "unknown-file"
          ? "if it is an old copy, move it away and the follower builds a new one; if it is a primary's live database, --node or --data-dir points at the wrong place"
          : "retrying";
  return {
    kind,
    reason,
    needs,
    key,
    generation: at?.generation,
    index: at?.index,
    position: at ? formatPosition(at) : undefined,
    since: Date.now(),
    attempts: 0,
    nextAt: 0,
  };
}

/** Schedules the next attempt: min, doubling, capped. */
export function nextAttempt(h: Hold, minMs = 2000, maxMs = 300_000): void {
  h.attempts++;
  h.nextAt = Date.now() + Math.min(maxMs, minMs * 2 ** Math.min(h.attempts - 1, 20));
}

/** Whether the store now holds a way past the held point: a snapshot after its WAL index, or a newer generation. */
export async function pastGap(store: ReplicaStore, prefix: string, h: Hold): Promise<boolean> {
  if (!h.generation || h.index === undefined) {
    const s = await summarizeReplica(store, prefix);
    return !!s.current;
  }
  const dir = snapshotsPrefix(prefix, h.generation);
  for await (const o of store.list(dir)) if ((snapshotIndex(o.key, dir) ?? -1) > h.index) return true;
  return false;
}
