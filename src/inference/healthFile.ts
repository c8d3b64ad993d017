import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic";
import type { HostHealth } from "./hostHealth";

/**
 * The plan's /tmp/ollama-health.json: `{"anvil":{"healthy":true,"last_check":"…"},…}`. Readers written against the
 * plan look only at `healthy` and `last_check`; the rest is extra detail for people.
 */
export interface HealthFileEntry {
  healthy: boolean;
  last_check?: string;
  latency_ms?: number;
  models?: string[];
  consecutive_failures?: number;
  consecutive_successes?: number;
  since?: string;
  error?: string;
  override?: boolean;
}

export function writeHealthFile(path: string, health: Map<string, HostHealth>): void {
  const out: Record<string, HealthFileEntry> = {};
  for (const [name, h] of health) {
    out[name] = {
      healthy: h.healthy,
      last_check: h.lastCheck,
      latency_ms: h.latencyMs,
      models: h.models,
      consecutive_failures: h.consecutiveFailures,
      consecutive_successes: h.consecutiveSuccesses,
      since: h.since,
      ...(h.lastError && !h.healthy ? { error: h.lastError } : {}),
      ...(h.override ? { override: true } : {}),
    };
  }
  // Not fsynced: it is rewritten every few seconds and lives in /tmp; a reader must never see half of it.
  writeFileAtomic(path, `${JSON.stringify(out, null, 2)}\n`, 0o644, false);
}

export function readHealthFile(path: string): Map<string, HostHealth> {
  const raw = JSON.parse(readFileSync(path, "utf8")) as Record<string, HealthFileEntry>;
  const out = new Map<string, HostHealth>();
  for (const [name, e] of Object.entries(raw)) {
    if (!e || typeof e !== "object") continue;
    out.set(name, {
      healthy: e.healthy === true,
      unknown: false,
      lastCheck: e.last_check,
      latencyMs: e.latency_ms,
      models: Array.isArray(e.models) ? e.models : [],
      consecutiveFailures: e.consecutive_failures ?? 0,
      consecutiveSuccesses: e.consecutive_successes ?? 0,
      lastError: e.error,
      since: e.since,
      override: e.override === true,
    });
  }
  return out;
}

export type Overrides = { forced: Map<string, boolean>; problem?: string };

/**
 * The plan's manual switch (/tmp/ollama-health-override.json): an entry with `"override": true` forces that host's
 * state; entries without it are ignored. A missing file means no overrides; an unreadable one is reported, not fatal.
 */
export function readOverrides(path: string): Overrides {
  const forced = new Map<string, boolean>();
  if (!path || !existsSync(path)) return { forced };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    return { forced, problem: `${path}: ignored, not valid JSON (${(e as Error).message})` };
  }
  if (!raw || typeof raw !== "object" || Array.isArray(raw))
    return { forced, problem: `${path}: ignored, expected {"host":{"healthy":false,"override":true}}` };
  for (const [name, e] of Object.entries(raw as Record<string, { healthy?: unknown; override?: unknown }>)) {
    if (e && typeof e === "object" && e.override === true) forced.set(name, e.healthy === true);
  }
  return { forced };
}
