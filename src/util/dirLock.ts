import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { UserError } from "./errors";
import { processAlive } from "./process";

/**
 * A lock on a directory that dies with its process: SQLite's EXCLUSIVE lock on a small file in it (an fcntl
 * lock, which the kernel drops when the process exits however it ends). A second holder is refused with the
 * first one's pid. The lock file is only ever opened through SQLite, so no stray descriptor can drop it.
 */
export class DirLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly pidFile: string,
  ) {}

  private static file(dir: string, role: string): string {
    return join(dir, `.understudy-${role}.lock`);
  }

  /** The pid of the live process holding the lock, or undefined when nobody holds it (or it died). */
  static holder(dir: string, role: string): number | undefined {
    const pid = Number(readPid(`${DirLock.file(dir, role)}.pid`));
    return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : undefined;
  }

  /** `waitMs`: how long to wait for the holder to let go (writers that take turns); 0 refuses at once. */
  static acquire(dir: string, role: string, waitMs = 0): DirLock {
    mkdirSync(dir, { recursive: true });
    const file = DirLock.file(dir, role);
    const pidFile = `${file}.pid`;
    const db = new Database(file, { timeout: waitMs });
    try {
      // An empty database makes SQLite open a journal for the lock's lifetime; one page of content avoids that.
      if (db.pragma("user_version", { simple: true }) !== 1) db.pragma("user_version = 1");
      db.exec("BEGIN EXCLUSIVE");
    } catch (e) {
      db.close();
      if ((e as { code?: string }).code !== "SQLITE_BUSY") throw e;
      const pid = readPid(pidFile) ?? "unknown";
      throw new UserError(
        `${dir} is in use by another understudy ${role} (pid ${pid}); stop it first, or give this one its own directory`,
      );
    }
    writeFileSync(pidFile, `${process.pid}\n`);
    return new DirLock(db, pidFile);
  }

  /** Takes the lock if it is free right now; undefined when another holder has it (no waiting, no error). */
  static tryAcquire(dir: string, role: string): DirLock | undefined {
    try {
      return DirLock.acquire(dir, role, 0);
    } catch (e) {
      if (e instanceof UserError) return undefined;
      throw e;
    }
  }

  release(): void {
    rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}

/** The pid a holder wrote, or undefined: the holder may remove the file between any check and the read. */
function readPid(pidFile: string): string | undefined {
  try {
    return readFileSync(pidFile, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
