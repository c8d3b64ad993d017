import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeConfig } from "../config/types";
import { FOLLOW_STATE_FILE, type FollowState } from "../follower/follower";
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

function readJson<T>(file: string): { value?: T; problem?: string } {
  if (!existsSync(file)) return {};
  try {
    return { value: JSON.parse(readFileSync(file, "utf8")) as T };
  } catch (e) {
    return { problem: `${file}: unreadable (${(e as Error).message})` };
  }
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
  const running = processAlive(s.pid) && s.litestream.status === "running";
  const problems: string[] = [];
  if (!processAlive(s.pid)) problems.push(`understudy replicate (pid ${s.pid}) is not running`);
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
  const uploads = s.databases.map((d) => Date.parse(d.lastUploadAt ?? "")).filter(Number.isFinite);
  return {
    running,
    litestream: s.litestream.status,
    databases: s.databases.length,
    missing: missing.length,
    withErrors: s.databases.filter((d) => d.lastError).length,
    newestUploadAgeS: uploads.length ? Math.round((Date.now() - Math.max(...uploads)) / 1000) : undefined,
    problems,
  };
}

export function followSummary(node: NodeConfig): FollowSummary | undefined {
  const { value: s, problem } = readJson<FollowState>(join(node.stateDir, FOLLOW_STATE_FILE));
  if (problem) return { running: false, databases: 0, following: 0, stalled: 0, problems: [problem] };
  if (!s) return undefined;
  const problems: string[] = [];
  const running = processAlive(s.pid);
  if (!running) problems.push(`understudy follow (pid ${s.pid}) is not running`);
  let worst: { name: string; lag: number } | undefined;
  let unknown: string | undefined;
  for (const d of s.databases) {
    if (d.phase !== "following") {
      unknown ??= `${d.name} is ${d.phase}`;
      continue;
    }
    // The primary's own clock is the truer measure when it publishes positions; else the store's.
    const lag = d.behindPrimaryMs ?? d.lagMs ?? 0;
    if (!worst || lag > worst.lag) worst = { name: d.name, lag };
  }
  const stalled = s.databases.filter((d) => d.phase === "stalled");
  if (stalled.length)
    problems.push(
      `${stalled.length} stalled (${stalled
        .slice(0, 3)
        .map((d) => d.name)
        .join(", ")})`,
    );
  if (unknown) problems.push(unknown);
  if (s.staleManifestAgeMs)
    problems.push(`primary's positions manifest is ${Math.round(s.staleManifestAgeMs / 1000)}s old`);
  // Lag is only as fresh as the state file: a follower that stopped writing it is as far behind as its silence.
  const silentMs = Date.now() - Date.parse(s.updatedAt);
  return {
    running,
    databases: s.databases.length,
    following: s.databases.filter((d) => d.phase === "following").length,
    stalled: stalled.length,
    worstLagMs: unknown || !worst ? undefined : worst.lag + Math.max(0, silentMs),
    worstDb: unknown ? unknown.split(" ")[0] : worst?.name,
    mode: s.mode,
    problems,
  };
}

export function nodeSummary(node: NodeConfig): NodeSummary {
  return { role: node.role, replication: replicationSummary(node), follow: followSummary(node) };
}
