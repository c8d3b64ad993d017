import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import type { UnderstudyConfig } from "../config/types";
import { inspectSqliteFile, type SqliteFileInfo } from "./sqliteFile";

export interface DiscoveredDb extends SqliteFileInfo {
  /** Path relative to the scanned directory, the way config names databases. */
  name: string;
  status: "replicated" | "excluded" | "unreplicated";
  tier?: string;
}

export interface DiscoveryReport {
  dir: string;
  found: DiscoveredDb[];
  /** Configured databases with no file in the directory (yet). */
  missing: string[];
  /** Files named like databases that are not SQLite (empty files, other formats). */
  notSqlite: string[];
}

const SIDE_FILES = /-(wal|shm|journal)$/;
/** understudy's own files in a data dir: the follower's lock (a small SQLite file) and copies built aside. */
const OWN_FILES = /^\.(understudy-|.+\.understudy-bootstrap$)/;
const SKIP_DIRS = new Set([".understudy", "node_modules", ".git"]);

function* walk(dir: string, root: string, depth: number): Generator<string> {
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (depth > 0 && !SKIP_DIRS.has(e.name) && !e.name.endsWith("-litestream")) yield* walk(p, root, depth - 1);
    } else if (e.isFile() && !SIDE_FILES.test(e.name) && !OWN_FILES.test(e.name)) {
      yield relative(root, p);
    }
  }
}

/** Finds SQLite databases by their header (not their name) and matches them against the config. */
export function discover(dir: string, cfg: UnderstudyConfig | undefined, depth = 1): DiscoveryReport {
  statSync(dir);
  const configured = new Map((cfg?.databases ?? []).map((d) => [d.name, d]));
  const excluded = new Set(cfg?.exclude ?? []);
  const found: DiscoveredDb[] = [];
  const notSqlite: string[] = [];
  for (const name of walk(dir, dir, depth)) {
    const info = inspectSqliteFile(join(dir, name));
    if (!info) {
      if (/\.(db|sqlite3?)$/i.test(name)) notSqlite.push(name);
      continue;
    }
    const db = configured.get(name);
    found.push({
      name,
      ...info,
      status: db ? "replicated" : excluded.has(name) ? "excluded" : "unreplicated",
      tier: db?.tier,
    });
  }
  const present = new Set([...found.map((f) => f.name), ...notSqlite]);
  const missing = [...configured.keys()].filter((n) => !present.has(n));
  return { dir, found, missing, notSqlite };
}
