import { existsSync } from "node:fs";
import Database from "better-sqlite3";
import type { LoadWriter } from "./load";

/**
 * End-to-end lag of one standby copy: how long the oldest row committed on the primary but not yet visible on
 * the standby has been waiting (0 when every row is there). Undefined while the copy does not exist.
 */
export function endToEndLag(load: LoadWriter, name: string, standbyPath: string, now = Date.now()): number | undefined {
  if (!existsSync(standbyPath)) return undefined;
  let visible: number;
  try {
    const db = new Database(standbyPath, { readonly: true, timeout: 2000 });
    try {
      visible = (db.prepare("SELECT coalesce(max(id), 0) AS m FROM items").get() as { m: number }).m;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
  const waiting = (load.commits.get(name) ?? []).find((c) => c.id > visible);
  return waiting ? now - waiting.at : 0;
}
