import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic";

/** What the watcher knows about one target; persisted so a restarted (or stateless, CI) watcher keeps counting. */
export interface TargetState {
  url: string;
  status: "up" | "down" | "unknown";
  consecutiveFailures: number;
  lastCheck?: string;
  lastError?: string;
  lastHttpStatus?: number;
  /** First failure of the current incident. */
  failingSince?: string;
  alertedAt?: string;
  /** When #ops accepted this incident's DOWN alert (the plan's "Slack alert arrival"; the drill reads it). */
  alertSentAt?: string;
  /** Why this incident's DOWN alert went nowhere (no webhook): it was only logged. */
  alertNotSent?: string;
  escalatedAt?: string;
  lastReminderAt?: string;
  /** Notifications that could not be delivered yet, retried on the next check. */
  pending: { to: "ops" | "escalation"; text: string; firstTriedAt: string; kind?: "down" }[];
  /** The last incidents that ended (newest last, at most 20): the watcher's record after the target came back. */
  incidents?: Incident[];
}

export interface Incident {
  failingSince: string;
  alertedAt?: string;
  alertSentAt?: string;
  alertNotSent?: string;
  recoveredAt: string;
}

export interface HeartbeatState {
  version: 1;
  targets: Record<string, TargetState>;
}

export function readHeartbeatState(file: string): HeartbeatState {
  if (!existsSync(file)) return { version: 1, targets: {} };
  try {
    const s = JSON.parse(readFileSync(file, "utf8")) as HeartbeatState;
    if (s && typeof s === "object" && s.targets && typeof s.targets === "object") return s;
  } catch {
    // a corrupt state file must not stop the watcher: it starts counting afresh
  }
  return { version: 1, targets: {} };
}

export function writeHeartbeatState(file: string, s: HeartbeatState): void {
  writeFileAtomic(file, `${JSON.stringify(s, null, 2)}\n`);
}

export function freshTarget(url: string): TargetState {
  return { url, status: "unknown", consecutiveFailures: 0, pending: [] };
}
