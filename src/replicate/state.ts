import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { HolderState } from "../failover/holder";
import type { LitestreamEvent } from "../litestream/events";
import { writeFileAtomic } from "../util/atomic";

export interface DbReplicationState {
  name: string;
  tier: string;
  path: string;
  replicaPath: string;
  present: boolean;
  generation?: string;
  position?: string;
  lastUploadAt?: string;
  lastSnapshotAt?: string;
  uploads: number;
  snapshots: number;
  bytesUploaded: number;
  errors: number;
  lastError?: { at: string; message: string };
  /** New generations forced because the store lost uploaded segments (see GapWatch). */
  forcedGenerations?: number;
  /** Where each recent WAL index ended (hex index → byte offset), so the standby can roll over without listing. */
  indexEnds?: Record<string, number>;
}

export interface SupervisorState {
  status: "starting" | "running" | "restarting" | "stopped" | "failed" | "fenced";
  pid?: number;
  version?: string;
  restarts: number;
  startedAt?: string;
  lastExit?: { at: string; code: number | null; signal: string | null };
  nextRestartAt?: string;
  /** What the supervisor is waiting for, in words, when it is not simply running. */
  waitingFor?: string;
}

export interface ReplicateState {
  node: string;
  pid: number;
  store: string;
  startedAt: string;
  updatedAt: string;
  litestream: SupervisorState;
  /** The lease this node holds (or why it was fenced). */
  lease?: HolderState;
  /** Positions manifests published to the store for the standby. */
  manifestPublishes?: number;
  databases: DbReplicationState[];
}

export const REPLICATE_STATE_FILE = "replicate-state.json";

export function stateFile(stateDir: string): string {
  return join(stateDir, REPLICATE_STATE_FILE);
}

export function readReplicateState(stateDir: string): ReplicateState | undefined {
  const f = stateFile(stateDir);
  if (!existsSync(f)) return undefined;
  return JSON.parse(readFileSync(f, "utf8")) as ReplicateState;
}

export function writeReplicateState(stateDir: string, s: ReplicateState): void {
  writeFileAtomic(stateFile(stateDir), `${JSON.stringify(s, null, 2)}\n`);
}

/** Folds one Litestream log event into per-database state; returns whether anything changed. */
export function applyEvent(dbs: Map<string, DbReplicationState>, e: LitestreamEvent): boolean {
  if (!e.db) return false;
  const s = dbs.get(e.db);
  if (!s) return false;
  const at = e.time.toISOString();
  switch (e.msg) {
    case "sync: new generation":
      s.generation = e.generation;
      return true;
    case "wal segment written":
      s.uploads++;
      s.bytesUploaded += e.size ?? 0;
      s.lastUploadAt = at;
      if (e.position) {
        s.position = advance(e.position, e.size ?? 0);
        const [idx, end] = (s.position.split("/")[1] ?? "").split(":");
        s.indexEnds ??= {};
        s.indexEnds[idx] = Number(end);
        // Keep the last few indexes only: the standby never needs older ones.
        const keys = Object.keys(s.indexEnds).sort();
        for (const k of keys.slice(0, Math.max(0, keys.length - 4))) delete s.indexEnds[k];
      }
      s.generation = e.generation ?? s.generation;
      return true;
    case "snapshot written":
      s.snapshots++;
      s.bytesUploaded += e.size ?? 0;
      s.lastSnapshotAt = at;
      s.lastUploadAt = at;
      s.generation = e.generation ?? s.generation;
      s.position ??= e.position;
      return true;
    default:
      if (e.level === "ERROR" || e.level === "WARN") {
        s.errors++;
        s.lastError = { at, message: `${e.msg}${e.error ? `: ${e.error}` : ""}` };
        return true;
      }
      return false;
  }
}

/** "wal segment written" logs where the segment started; what is in the store now ends sz bytes later. */
function advance(position: string, size: number): string {
  const m = /^([0-9a-f]+)\/([0-9a-f]+):(\d+)$/.exec(position);
  if (!m) return position;
  return `${m[1]}/${m[2]}:${Number(m[3]) + size}`;
}
