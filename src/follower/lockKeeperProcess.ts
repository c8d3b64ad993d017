import { open } from "node:fs/promises";
import Database from "better-sqlite3";
import { readJournal, restoreOriginals } from "./journal";

/**
 * The lock keeper: a small child of the follower that takes and holds SQLite's EXCLUSIVE lock on a copy for
 * each apply, while the follower writes. If the follower dies mid-apply (kill -9), this process still holds the
 * lock, so readers keep waiting instead of meeting a hot journal (which a read-only reader cannot roll back); it
 * puts the original pages back from the journal, then releases the lock and exits. Protocol (IPC, JSON):
 * {id, op: "lock"|"unlock"|"forget", path, timeoutMs?} → {id, ok, error?}.
 */
interface Request {
  id: number;
  op: "lock" | "unlock" | "forget";
  path: string;
  timeoutMs?: number;
}

const conns = new Map<string, Database.Database>();
const locked = new Set<string>();

function connection(path: string): Database.Database {
  let c = conns.get(path);
  if (!c) {
    // Each attempt waits at most 100 ms inside SQLite (holding PENDING, so new readers queue behind the follower);
    // longer waits are retried asynchronously so one busy copy does not stall the locks of the others.
    c = new Database(path, { fileMustExist: true, timeout: 100 });
    conns.set(path, c);
  }
  return c;
}

async function lock(path: string, timeoutMs: number): Promise<void> {
  const c = connection(path);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      c.exec("BEGIN EXCLUSIVE");
      locked.add(path);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

function unlock(path: string): void {
  const c = conns.get(path);
  if (c && locked.has(path)) c.exec("COMMIT");
  locked.delete(path);
}

async function handle(m: Request): Promise<void> {
  try {
    if (m.op === "lock") await lock(m.path, m.timeoutMs ?? 10_000);
    else if (m.op === "unlock") unlock(m.path);
    else {
      unlock(m.path);
      conns.get(m.path)?.close();
      conns.delete(m.path);
    }
    process.send?.({ id: m.id, ok: true });
  } catch (e) {
    process.send?.({ id: m.id, ok: false, error: (e as Error).message, code: (e as { code?: string }).code });
  }
}

/** The follower is gone: finish its half-done applies backwards, then let go. */
async function orphaned(): Promise<void> {
  for (const path of locked) {
    const jpath = `${path}-journal`;
    try {
      const j = await readJournal(jpath);
      if (j) {
        const fh = await open(path, "r+");
        try {
          await restoreOriginals(fh, j, jpath);
        } finally {
          // Closing this descriptor drops this process's locks on the file (POSIX): only done once the pages
          // are back and the journal is gone, or, on failure, with the journal left hot for SQLite to finish.
          await fh.close();
        }
      }
      unlock(path);
    } catch (e) {
      // Leave the journal: SQLite rolls it back for the next read-write opener, the restarted follower first.
      process.stderr.write(`understudy lock keeper: cannot roll back ${path}: ${(e as Error).message}\n`);
    }
  }
  for (const c of conns.values()) c.close();
  process.exit(0);
}

process.on("message", (m: Request) => void handle(m));
process.on("disconnect", () => void orphaned());
