import { createHash } from "node:crypto";
import Database from "better-sqlite3";

export interface ContentDigest {
  /** sha256 over every user table's rows in rowid order. */
  hash: string;
  rows: number;
  tables: Record<string, { rows: number; hash: string }>;
  integrity: string;
}

/**
 * The application's tables: not SQLite's own, nor Litestream's bookkeeping (`_litestream_seq`, `_litestream_lock`),
 * which each primary's Litestream writes on its own and a promoted copy may hold differently.
 */
export const APP_TABLES_SQL =
  "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_litestream\\_%' ESCAPE '\\'";

/** The application's tables that have rowids (not WITHOUT ROWID): where "rows beyond a rowid" means something. */
export const ROWID_TABLES_SQL = `${APP_TABLES_SQL} AND sql NOT LIKE '%WITHOUT ROWID%'`;

/** What a database holds, as one comparable digest: how data-safety claims are checked, never by file bytes. */
export function digestDatabase(path: string): ContentDigest {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = (db.pragma("integrity_check", { simple: true }) as string) ?? "";
    const names = db.prepare(`${APP_TABLES_SQL} ORDER BY name`).pluck().all() as string[];
    const all = createHash("sha256");
    const tables: ContentDigest["tables"] = {};
    let rows = 0;
    for (const name of names) {
      const h = createHash("sha256");
      let n = 0;
      const q = `"${name.replace(/"/g, '""')}"`;
      for (const row of db.prepare(`SELECT * FROM ${q} ORDER BY rowid`).raw().iterate() as Iterable<unknown[]>) {
        h.update(
          JSON.stringify(row, (_k, v) =>
            Buffer.isBuffer(v) ? v.toString("base64") : typeof v === "bigint" ? v.toString() : v,
          ),
        );
        h.update("\n");
        n++;
      }
      const digest = h.digest("hex");
      tables[name] = { rows: n, hash: digest };
      all.update(`${name}:${digest}\n`);
      rows += n;
    }
    return { hash: all.digest("hex"), rows, tables, integrity };
  } finally {
    db.close();
  }
}
