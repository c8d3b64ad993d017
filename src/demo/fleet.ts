import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { InventoryEntry } from "../fleet/inventory";

export const DEMO_SCHEMA =
  "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, kind TEXT NOT NULL, payload BLOB NOT NULL)";

/** mission-control.db's task ledger, as far as the plan's drill looks at it. */
export const TASKS_SCHEMA =
  "CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, title TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL)";

/** Fills one database in WAL mode up to about `bytes`, in large transactions. */
export function createDatabase(path: string, bytes: number, rowSize = 512): number {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.exec(DEMO_SCHEMA);
    const insert = db.prepare("INSERT INTO items (created_at, kind, payload) VALUES (?, ?, ?)");
    const rows = Math.max(1, Math.ceil(bytes / (rowSize + 40)));
    const batch = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) insert.run(new Date().toISOString(), "seed", randomBytes(rowSize));
    });
    for (let done = 0; done < rows; done += 5000) batch(Math.min(5000, rows - done));
    db.pragma("wal_checkpoint(TRUNCATE)");
    return rows;
  } finally {
    db.close();
  }
}

/** A copy of the plan's fleet at `scale` of its sizes (every database at least a few pages). */
export function createFleet(
  dir: string,
  inventory: InventoryEntry[],
  scale: number,
): { name: string; bytes: number }[] {
  mkdirSync(dir, { recursive: true });
  return inventory.map((e) => {
    const bytes = Math.max(16 * 1024, Math.round(e.size * scale));
    createDatabase(join(dir, e.name), bytes);
    return { name: e.name, bytes };
  });
}
