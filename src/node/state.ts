import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PromoteReport } from "../failover/promote";
import { writeFileAtomic } from "../util/atomic";

/** What `understudy run` is doing, for status and the health endpoints. */
export interface NodeState {
  node: string;
  pid: number;
  mode: "manual" | "automatic";
  role: "starting" | "primary" | "standby" | "promoting" | "switching-over" | "superseded" | "stopped";
  since: string;
  updatedAt: string;
  holder?: string;
  epoch?: number;
  leaseExpiresAt?: string;
  waitingFor?: string;
  /** The standby's checks of the primary's /primary endpoint (automatic mode). */
  primaryCheck: { url?: string; failures: number; lastCheckAt?: string; lastError?: string };
  transitions: { at: string; from: string; to: string; detail: string }[];
  lastPromotion?: PromoteReport;
  lastRejoin?: { setAside: string; at: string };
}

export function nodeStatePath(stateDir: string): string {
  return join(stateDir, "node-state.json");
}

export function writeNodeState(stateDir: string, s: NodeState): void {
  writeFileAtomic(nodeStatePath(stateDir), `${JSON.stringify(s, null, 2)}\n`);
}

/** The state `understudy run` last wrote; undefined when it never ran here (or the file is not one it wrote). */
export function readNodeState(stateDir: string): NodeState | undefined {
  const p = nodeStatePath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    const s = JSON.parse(readFileSync(p, "utf8")) as NodeState;
    return typeof s.role === "string" && typeof s.pid === "number" ? s : undefined;
  } catch {
    return undefined;
  }
}
