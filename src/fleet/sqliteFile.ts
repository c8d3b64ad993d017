import { closeSync, openSync, readSync, statSync } from "node:fs";

const MAGIC = Buffer.from("SQLite format 3\0", "latin1");

export interface SqliteFileInfo {
  size: number;
  pageSize: number;
  /** From the header's read/write version bytes: 2 means WAL. */
  journalMode: "wal" | "rollback";
  walSize: number;
}

/**
 * Reads the 100-byte header without opening a connection, so discovery never takes a lock,
 * never creates -wal/-shm files and never changes a database it only looks at.
 */
export function inspectSqliteFile(path: string): SqliteFileInfo | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const header = Buffer.alloc(100);
    const n = readSync(fd, header, 0, 100, 0);
    if (n < 100 || !header.subarray(0, 16).equals(MAGIC)) return undefined;
    const rawPage = header.readUInt16BE(16);
    const pageSize = rawPage === 1 ? 65536 : rawPage;
    const walMode = header[18] === 2 && header[19] === 2;
    let walSize = 0;
    try {
      walSize = statSync(`${path}-wal`).size;
    } catch {
      walSize = 0;
    }
    return { size: statSync(path).size, pageSize, journalMode: walMode ? "wal" : "rollback", walSize };
  } finally {
    closeSync(fd);
  }
}
