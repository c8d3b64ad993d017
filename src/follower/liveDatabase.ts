import { existsSync } from "node:fs";
import { type FileHandle, open, unlink } from "node:fs/promises";
import Database from "better-sqlite3";
import { faultPause } from "../util/faults";
import { type JournalContents, restoreOriginals, writeJournal } from "./journal";
import type { CopyLocks } from "./lockKeeper";

/**
 * Page 1 of a standby copy: the primary's image, but in rollback-journal mode (bytes 18-19 = 1) so readers use
 * SQLite's file locks that the follower holds while it writes, and with a change counter that moves on every
 * apply so readers' page caches notice. Neither touches a row.
 */
export function standbyPageOne(page: Buffer, counter: number, dbPages: number): Buffer {
  const p = Buffer.from(page);
  p[18] = 1;
  p[19] = 1;
  p.writeUInt32BE(counter >>> 0, 24);
  p.writeUInt32BE(dbPages, 28);
  p.writeUInt32BE(counter >>> 0, 92);
  return p;
}

/**
 * The change counter the follower writes: the next multiple of 65536. SQLite's own writers add 1 per
 * transaction, so a counter with any of its low 16 bits set means someone else wrote to the copy, even across
 * restarts of the follower, with nothing to remember.
 */
export function standbyCounter(onDisk: number): number {
  return ((((onDisk >>> 16) + 1) & 0xffff) << 16) >>> 0;
}

function foreignCounter(counter: number): boolean {
  return (counter & 0xffff) !== 0;
}

/** Someone other than the follower changed the copy: it no longer matches any state of the primary. */
export class ForeignWriteError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path} was changed by another process (${detail}); it will be rebuilt from the store`);
    this.name = "ForeignWriteError";
  }
}

/**
 * An apply failed and the copy could not even be put back yet (no space to restore the original pages): the
 * follower keeps SQLite's lock, so readers wait instead of reading half of it, and retries the rollback.
 */
export class RollbackPendingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RollbackPendingError";
  }
}

/**
 * The standby's copy of one database, changed only by whole committed transactions.
 *
 * Locks: every apply holds SQLite's EXCLUSIVE lock (readers wait, never see half of it), taken by the lock
 * keeper, a child process (see lockKeeperProcess.ts), and first writes a real SQLite rollback journal of the
 * pages it replaces. POSIX advisory locks belong to the process, and closing ANY descriptor of a file drops all
 * of the process's locks on it: this class opens one descriptor of the database and keeps it until close(), and
 * no other code in the follower opens the live file by descriptor (SQLite's own connections share theirs).
 *
 * Failure: if the follower dies mid-apply, the keeper still holds the lock, restores the original pages from the
 * journal and only then lets go; if both die, the journal is hot and SQLite rolls it back for the next process
 * that opens the database read-write (the restarted follower does so first). If an apply fails while the
 * follower lives (disk full, I/O error), it restores the original pages itself while the lock is held, and only
 * then releases it; when that is impossible too, it keeps the lock and retries (RollbackPendingError).
 */
export class LiveDatabase {
  private conn?: Database.Database;
  private fh?: FileHandle;
  private pending?: JournalContents & { cause: string };

  constructor(
    readonly path: string,
    readonly pageSize: number,
    private readonly locks: CopyLocks,
    private readonly busyTimeoutMs = 10_000,
  ) {}

  get journalPath(): string {
    return `${this.path}-journal`;
  }

  /** The descriptor first, then the connection: the descriptor outlives every lock the connection takes. */
  private async handles(): Promise<{ conn: Database.Database; fh: FileHandle }> {
    this.fh ??= await open(this.path, "r+");
    if (!this.conn) {
      // For checks and crash recovery only; applies are locked by the keeper.
      this.conn = new Database(this.path, { fileMustExist: true, timeout: 5000 });
      // Reading the schema takes a shared lock, which is when SQLite rolls back a hot journal left by a crash.
      this.conn.pragma("schema_version");
    }
    return { conn: this.conn, fh: this.fh };
  }

  /** Rolls back what a crash left behind (via SQLite itself) and says whether it had to. */
  async recover(): Promise<boolean> {
    const hot = existsSync(this.journalPath);
    this.conn?.close();
    this.conn = undefined;
    await this.handles();
    return hot && !existsSync(this.journalPath);
  }

  /** The header's change counter and journal mode, read without a lock (a hint; apply re-checks under the lock). */
  async peekHeader(): Promise<{ counter: number; walMode: boolean }> {
    const { fh } = await this.handles();
    const h = Buffer.alloc(100);
    await fh.read(h, 0, 100, 0);
    return { counter: h.readUInt32BE(24), walMode: h[18] === 2 || existsSync(`${this.path}-wal`) };
  }

  /**
   * Why the file on disk is not what a follower wrote, or undefined when it is. `counters: false` for copies
   * written before the follower marked its counters (they are checked from their next apply on).
   */
  async foreignChange(counters = true): Promise<string | undefined> {
    const h = await this.peekHeader();
    if (h.walMode) return "it was switched to WAL mode";
    if (counters && foreignCounter(h.counter)) return `its change counter is ${h.counter}, not one the follower wrote`;
    return undefined;
  }

  /**
   * Takes a copy back from another writer before it is overwritten: a WAL it was switched to is checkpointed
   * and the file set back to rollback-journal mode (SQLite refuses while the other writer still has it open).
   */
  async reclaim(): Promise<void> {
    await this.recover();
    const { conn } = await this.handles();
    if ((await this.peekHeader()).walMode) conn.pragma("journal_mode = DELETE");
  }

  /** SQLite's quick_check, through this connection (a second descriptor would break the lock rule above). */
  async quickCheck(): Promise<string> {
    const { conn } = await this.handles();
    const rows = conn.pragma("quick_check(5)", { simple: false }) as { quick_check: string }[];
    return rows.map((r) => r.quick_check).join("; ");
  }

  /** Reads pages through the descriptor this class keeps (for diffs against a rebuilt copy). */
  async readPage(pgno: number, into: Buffer): Promise<number> {
    const { fh } = await this.handles();
    return (await fh.read(into, 0, this.pageSize, (pgno - 1) * this.pageSize)).bytesRead;
  }

  async sizeInPages(): Promise<number> {
    const { fh } = await this.handles();
    return Math.floor((await fh.stat()).size / this.pageSize);
  }

  /**
   * Replaces pages and sets the size, atomically for readers and crash-safely. Asynchronous file I/O, so the
   * fsyncs of many databases overlap instead of queueing behind each other. On failure the copy is back at its
   * last committed state when this throws (or the lock is kept and RollbackPendingError says so).
   */
  async apply(pages: Map<number, Buffer>, dbPages: number, opts: { overwrite?: boolean } = {}): Promise<void> {
    const { fh } = await this.handles();
    if (!this.pending) await this.locks.lock(this.path, this.busyTimeoutMs);
    let release = true;
    try {
      if (this.pending) {
        await restoreOriginals(fh, this.pending, this.journalPath);
        this.pending = undefined;
      }
      const size = (await fh.stat()).size;
      const oldPages = Math.floor(size / this.pageSize);
      const page1 = Buffer.alloc(this.pageSize);
      await fh.read(page1, 0, this.pageSize, 0);
      const onDisk = page1.readUInt32BE(24);
      // Applying the primary's pages on top of someone else's changes would mix two histories: refuse (the
      // follower then rebuilds the copy, with overwrite).
      if (!opts.overwrite && (page1[18] !== 1 || existsSync(`${this.path}-wal`)))
        throw new ForeignWriteError(this.path, "it was switched to WAL mode");
      if (!opts.overwrite && foreignCounter(onDisk))
        throw new ForeignWriteError(this.path, `its change counter is ${onDisk}, not one the follower wrote`);
      const counter = standbyCounter(onDisk);
      const writes = new Map(pages);
      writes.set(1, standbyPageOne(writes.get(1) ?? page1, counter, dbPages));
      for (const [pgno, data] of writes) {
        if (data.length !== this.pageSize)
          throw new Error(`page ${pgno} has ${data.length} bytes, not ${this.pageSize}`);
      }

      // 1. The journal: original images of every existing page about to change or be cut off, then fsync.
      const touched = new Set([...writes.keys()].filter((p) => p <= oldPages));
      for (let p = dbPages + 1; p <= oldPages; p++) touched.add(p);
      const originals = new Map<number, Buffer>();
      for (const pgno of [...touched].sort((a, b) => a - b)) {
        const orig = Buffer.alloc(this.pageSize);
        await fh.read(orig, 0, this.pageSize, (pgno - 1) * this.pageSize);
        originals.set(pgno, orig);
      }
      const journal: JournalContents = { originals, oldPages, pageSize: this.pageSize };
      await writeJournal(this.journalPath, journal);

      // 2. The new pages and the new size, then fsync. Any failure from here is undone before the lock goes.
      try {
        for (const [pgno, data] of writes) {
          if (pgno <= dbPages) await fh.write(data, 0, data.length, (pgno - 1) * this.pageSize);
        }
        if (size !== dbPages * this.pageSize) await fh.truncate(dbPages * this.pageSize);
        await fh.sync();
        await faultPause("APPLY_COMMIT");
        // 3. Commit point: without its journal the new state is the database.
        await unlink(this.journalPath);
      } catch (e) {
        const undo = { ...journal, cause: (e as Error).message };
        try {
          await restoreOriginals(fh, undo, this.journalPath);
        } catch (again) {
          this.pending = undo;
          release = false;
          throw new RollbackPendingError(
            `apply failed (${undo.cause}) and the original pages cannot be restored yet (${(again as Error).message}); readers wait until they are`,
          );
        }
        throw e;
      }
    } finally {
      if (release) await this.locks.unlock(this.path);
    }
  }

  /** True while a failed apply still holds the lock because its rollback could not finish. */
  get rollbackPending(): boolean {
    return !!this.pending;
  }

  /** The connection first (it may hold no lock by now), then the descriptor. */
  async close(): Promise<void> {
    if (this.pending && this.fh) {
      // Last chance to restore before the lock goes; if it fails the journal stays hot for SQLite to roll back.
      await restoreOriginals(this.fh, this.pending, this.journalPath).catch(() => undefined);
      this.pending = undefined;
    }
    await this.locks.forget(this.path).catch(() => undefined);
    this.conn?.close();
    this.conn = undefined;
    await this.fh?.close();
    this.fh = undefined;
  }
}
