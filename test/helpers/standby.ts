import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { UnderstudyConfig } from "../../src/config/types";
import { digestDatabase } from "../../src/fleet/rowHash";
import type { FollowState } from "../../src/follower/follower";
import { entryPosition } from "../../src/replica/manifest";
import type { Replicator } from "../../src/replicate/replicator";
import { BIN, waitFor } from "./env";

export function standbyNode(cfg: UnderstudyConfig) {
  return cfg.nodes.find((n) => n.role === "standby") as UnderstudyConfig["nodes"][number];
}

export function readFollowStateFile(cfg: UnderstudyConfig): FollowState | undefined {
  const f = join(standbyNode(cfg).stateDir, "follow-state.json");
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, "utf8")) as FollowState;
  } catch {
    return undefined;
  }
}

export interface FollowProcess {
  child: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * `understudy follow` as its own process: readers of the copies must be other processes than the follower,
 * since POSIX locks are per process. Killed (its pid, not a wrapper) when the test ends if still running.
 */
export function followProcess(
  t: { after: (fn: () => Promise<void>) => void },
  file: string,
  env: NodeJS.ProcessEnv = {},
): FollowProcess {
  return understudyProcess(t, ["follow", "--config", file, "--metrics-listen", ""], env);
}

/** Any understudy command as its own process, its stderr collected, killed when the test ends if still running. */
export function understudyProcess(
  t: { after: (fn: () => Promise<void>) => void },
  args: string[],
  env: NodeJS.ProcessEnv = {},
): FollowProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  // SIGTERM first, so a daemon stops what it started (Litestream); SIGKILL if it does not exit in 15 s.
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
  });
  return { child, pid: child.pid as number, exited, stderr: () => err };
}

/** Whether a process started by a test is still there (the project's own check). */
export { processAlive as alive } from "../../src/util/process";

/** The follower's copies are at the positions the primary published last. */
export function caughtUpTo(state: FollowState | undefined, r: Replicator, names: string[]): boolean {
  if (!state) return false;
  const m = r.manifest();
  return names.every((n) => {
    const db = r.cfg.databases.find((d) => d.name === n);
    const want = db && m.databases[db.replicaPath];
    const got = state.databases.find((d) => d.name === n);
    return want && got?.position === entryPosition(want);
  });
}

/** Every named copy on the standby has the primary's rows and passes integrity_check. */
export function assertCopiesEqual(cfg: UnderstudyConfig, names: string[]): void {
  for (const n of names) {
    const p = digestDatabase(join(cfg.nodes[0].dataDir, n));
    const s = digestDatabase(join(standbyNode(cfg).dataDir, n));
    assert.equal(s.integrity, "ok", n);
    assert.equal(s.hash, p.hash, `${n}: standby rows equal the primary's (${s.rows} vs ${p.rows})`);
  }
}

/**
 * Waits until every named copy on the standby has the primary's rows (the last commits need a sync to be uploaded,
 * then an apply): the copies must converge; if they do not in time, assertCopiesEqual says which differs and how.
 */
export async function waitCopiesEqual(cfg: UnderstudyConfig, names: string[], ms = 60_000): Promise<void> {
  const equal = () =>
    names.every((n) => {
      try {
        const p = digestDatabase(join(cfg.nodes[0].dataDir, n));
        const s = digestDatabase(join(standbyNode(cfg).dataDir, n));
        return s.integrity === "ok" && s.hash === p.hash;
      } catch {
        return false;
      }
    });
  await waitFor("the standby's copies to equal the primary's", equal, ms).catch(() => undefined);
  assertCopiesEqual(cfg, names);
}

/** "busy" for a reader turned away by a lock (the allowed answer), else the error in words. */
export function readerOutcome(e: unknown): string {
  const code = (e as { code?: string }).code;
  const msg = (e as Error)?.message ?? String(e);
  return code === "SQLITE_BUSY" || /database is locked/.test(msg) ? "busy" : `${code ?? ""} ${msg}`.trim();
}

/** Opens a copy read-only as an application would, checks it and counts rows: "ok", "busy" or the error. */
export function readOnlyRead(path: string, timeout: number): string {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout });
    const qc = db.pragma("quick_check", { simple: true });
    db.prepare("SELECT count(*) FROM items").get();
    return qc === "ok" ? "ok" : `quick_check: ${qc}`;
  } catch (e) {
    return readerOutcome(e);
  } finally {
    db?.close();
  }
}

export async function waitFollowing(cfg: UnderstudyConfig, names: string[], minSegments = 1): Promise<FollowState> {
  return waitFor("the follower to follow every copy", () => {
    const s = readFollowStateFile(cfg);
    return s &&
      names.every((n) => {
        const d = s.databases.find((x) => x.name === n);
        return d?.phase === "following" && d.segmentsApplied >= minSegments;
      })
      ? s
      : undefined;
  });
}
