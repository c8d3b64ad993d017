import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { StoreOperationCounts } from "../store/countingStore";
import { writeFileAtomic } from "../util/atomic";

/**
 * following: the copy is current or catching up; waiting: no snapshot to start from yet; bootstrapping: a copy is
 * being built aside; stalled: it cannot advance (a gap or a corrupt segment in the store, a full disk, an error),
 * and the reason is in lastError; damaged: the copy itself failed a check and waits to be rebuilt.
 */
export type FollowDbPhase = "waiting" | "bootstrapping" | "following" | "stalled" | "damaged";

export interface FollowDbStatus {
  name: string;
  tier: string;
  phase: FollowDbPhase;
  generation?: string;
  position?: string;
  /**
   * How long the oldest primary commit the copy lacks has existed, in ms: 0 only when the copy has everything a
   * fresh positions manifest (or, without one, a probe) says the primary has; without either it grows with the
   * time since that was last known. Undefined when there is no copy.
   */
  lagMs?: number;
  lastAppliedAt?: string;
  segmentsApplied: number;
  transactionsApplied: number;
  bootstraps: number;
  lastEvent?: { at: string; message: string };
  /**
   * Where the time went for the last apply, in ms from Litestream's upload: until the primary published it,
   * until this follower read that manifest, until the apply started (queueing), until it was visible.
   */
  lastApplyPath?: { published: number; seen: number; started: number; applied: number };
  lastError?: { at: string; message: string };
  /** When the next attempt past a stall is due (backoff). */
  retryAt?: string;
}

export interface FollowState {
  node: string;
  pid: number;
  /** Set by a follower that stopped (its process may go on, as `understudy run` on a primary does). */
  stoppedAt?: string;
  store: string;
  startedAt: string;
  updatedAt: string;
  /** How often this state is rewritten: a file older than a few of these means the follower is not reporting. */
  pollMs: number;
  /** Whether the primary publishes positions (no listings needed) or the follower probes on its own. */
  mode: "manifest" | "probe";
  manifestAgeMs?: number;
  /** Set when a manifest exists but is too old to trust. */
  staleManifestAgeMs?: number;
  /** Why the last read of the manifest failed, while it keeps failing. */
  storeError?: string;
  /** Databases with work in flight right now. */
  busy?: number;
  /** The child process that holds SQLite's lock on a copy during each apply. */
  lockKeeperPid?: number;
  operations: StoreOperationCounts;
  operationsPerMinute: Record<string, number>;
  databases: FollowDbStatus[];
}

export const FOLLOW_STATE_FILE = "follow-state.json";

/** The one reader of the follower's state file, for status and the health endpoints alike. */
export function readFollowState(stateDir: string): { state?: FollowState; problem?: string } {
  const file = join(stateDir, FOLLOW_STATE_FILE);
  if (!existsSync(file)) return {};
  try {
    return { state: JSON.parse(readFileSync(file, "utf8")) as FollowState };
  } catch (e) {
    return { problem: `${file}: unreadable (${(e as Error).message})` };
  }
}

/** Rewrites the state file atomically, without fsync (it is rewritten every poll). */
export function writeFollowState(stateDir: string, s: FollowState): void {
  writeFileAtomic(join(stateDir, FOLLOW_STATE_FILE), `${JSON.stringify(s)}\n`, 0o644, false);
}
