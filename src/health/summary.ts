import type { NodeConfig } from "../config/types";
import { type FollowState, readFollowState } from "../follower/state";
import { type ReplicateState, readReplicateState } from "../replicate/state";
import { processAlive } from "../util/process";

export interface ReplicationSummary {
  running: boolean;
  litestream: string;
  databases: number;
  missing: number;
  withErrors: number;
  /** Seconds since the newest WAL upload of any database. */
  newestUploadAgeS?: number;
  /** This node holds the lease (and is not fenced): it is the primary, whatever the config first said. */
  holdsLease?: boolean;
  problems: string[];
}

export interface FollowSummary {
  running: boolean;
  databases: number;
  following: number;
  stalled: number;
  /** Lag of the worst followed database, ms; undefined when some database has no copy yet. */
  worstLagMs?: number;
  worstDb?: string;
  mode?: string;
  problems: string[];
}

export interface NodeSummary {
  role: NodeConfig["role"];
  replication?: ReplicationSummary;
  follow?: FollowSummary;
}

export function replicationSummary(node: NodeConfig): ReplicationSummary | undefined {
  let s: ReplicateState | undefined;
  try {
    s = readReplicateState(node.stateDir);
  } catch (e) {
    return {
      running: false,
      litestream: "unknown",
      databases: 0,
      missing: 0,
      withErrors: 0,
      problems: [`replicate state unreadable: ${(e as Error).message}`],
    };
  }
  if (!s) return undefined;
  return judgeReplicateState(s, processAlive(s.pid));
}

/** A database's error that no upload has followed yet. */
export function currentError(d: ReplicateState["databases"][number]): boolean {
  return !!d.lastError && (!d.lastUploadAt || d.lastError.at > d.lastUploadAt);
}

/** The one judge of a primary's replicate role, for status and the health endpoints alike. */
export function judgeReplicateState(s: ReplicateState, alive: boolean): ReplicationSummary {
  const running = alive && s.litestream.status === "running" && !s.lease?.fenced;
  const problems: string[] = [];
  if (!alive) problems.push(`understudy replicate (pid ${s.pid}) is not running`);
  else if (s.lease?.fenced) problems.push(`fenced: ${s.lease.fenced}`);
  else if (s.litestream.status !== "running")
    problems.push(
      `litestream is ${s.litestream.status}${s.litestream.waitingFor ? `: ${s.litestream.waitingFor}` : ""}`,
    );
  const missing = s.databases.filter((d) => !d.present);
  if (missing.length)
    problems.push(
      `${missing.length} configured databases missing on disk (${missing
        .slice(0, 3)
        .map((d) => d.name)
        .join(", ")}${missing.length > 3 ? ", …" : ""})`,
    );
  const errors = s.databases.filter(currentError);
  for (const d of errors.slice(0, 5)) problems.push(`${d.name}: ${d.lastError?.message}`);
  if (errors.length > 5) problems.push(`… and ${errors.length - 5} more databases with a current error`);
  const uploads = s.databases.map((d) => Date.parse(d.lastUploadAt ?? "")).filter(Number.isFinite);
  return {
    running,
    litestream: s.litestream.status,
    databases: s.databases.length,
    missing: missing.length,
    withErrors: errors.length,
    holdsLease: alive && s.lease?.holder === s.node && s.lease.epoch !== undefined && !s.lease.fenced,
    newestUploadAgeS: uploads.length ? Math.round((Date.now() - Math.max(...uploads)) / 1000) : undefined,
    problems,
  };
}

/** A follower whose state file is older than this is not reporting, whatever its pid says. */
export function followSilenceLimitMs(s: Pick<FollowState, "pollMs">): number {
  return Math.max(5 * (s.pollMs ?? 1000), 10_000);
}

/**
 * The one judge of a standby's follower, used by status, the health endpoints and doctor alike: every problem in
 * words, and the worst lag — undefined when any followed database has no current copy, and grown by the time
 * the follower has been silent.
 */
export function judgeFollowState(s: FollowState, alive: boolean, now = Date.now()): FollowSummary {
  const problems: string[] = [];
  const silentMs = Math.max(0, now - Date.parse(s.updatedAt));
  const reporting = silentMs <= followSilenceLimitMs(s);
  if (!alive) problems.push(`understudy follow (pid ${s.pid}) is not running`);
  else if (s.stoppedAt) problems.push(`understudy follow (pid ${s.pid}) stopped following at ${s.stoppedAt}`);
  else if (!reporting)
    problems.push(
      `understudy follow (pid ${s.pid}) is not reporting: its state is ${Math.round(silentMs / 1000)}s old`,
    );
  if (s.storeError) problems.push(`cannot read the store: ${s.storeError}`);
  let worst: { name: string; lag: number } | undefined;
  let unknown: string | undefined;
  const notFollowing = s.databases.filter((d) => d.phase !== "following");
  for (const d of s.databases) {
    if (d.phase !== "following" || d.lagMs === undefined) {
      unknown ??= d.name;
      continue;
    }
    if (!worst || d.lagMs > worst.lag) worst = { name: d.name, lag: d.lagMs };
  }
  for (const d of notFollowing.slice(0, 5))
    problems.push(`${d.name} is ${d.phase}${d.lastError ? `: ${d.lastError.message}` : ""}`);
  if (notFollowing.length > 5) problems.push(`… and ${notFollowing.length - 5} more not following`);
  for (const d of s.databases.filter((x) => x.phase === "following" && x.lastError).slice(0, 5))
    problems.push(`${d.name}: ${d.lastError?.message}`);
  if (s.staleManifestAgeMs)
    problems.push(`primary's positions manifest is ${Math.round(s.staleManifestAgeMs / 1000)}s old`);
  const stalled = s.databases.filter((d) => d.phase === "stalled" || d.phase === "damaged");
  return {
    running: alive && reporting && !s.stoppedAt,
    databases: s.databases.length,
    following: s.databases.length - notFollowing.length,
    stalled: stalled.length,
    worstLagMs: unknown || !worst ? undefined : worst.lag + silentMs,
    worstDb: unknown ?? worst?.name,
    mode: s.mode,
    problems,
  };
}

export function followSummary(node: NodeConfig, now = Date.now()): FollowSummary | undefined {
  const { state: s, problem } = readFollowState(node.stateDir);
  if (problem) return { running: false, databases: 0, following: 0, stalled: 0, problems: [problem] };
  if (!s) return undefined;
  return judgeFollowState(s, processAlive(s.pid), now);
}

/** The node's role now: the lease holder's replicate makes it the primary (after a promotion too). */
export function nodeSummary(node: NodeConfig): NodeSummary {
  const replication = replicationSummary(node);
  const follow = followSummary(node);
  const role = replication?.holdsLease
    ? "primary"
    : replication && !follow
      ? node.role
      : follow
        ? "standby"
        : node.role;
  return { role, replication, follow };
}
