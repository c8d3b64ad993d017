import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { open, unlink } from "node:fs/promises";
import Database from "better-sqlite3";

const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
const JOURNAL_SECTOR = 512;

/** SQLite's rollback-journal page checksum: the nonce plus every 200th byte counted back from the end. */
function journalChecksum(nonce: number, page: Buffer): number {
  let sum = nonce;
  for (let i = page.length - 200; i > 0; i -= 200) sum = (sum + page[i]) >>> 0;
  return sum >>> 0;
}

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
 * The standby's copy of one database, changed only by whole committed transactions.
 * Each apply holds SQLite's EXCLUSIVE lock (readers wait, never see half of it) and first writes a real SQLite
 * rollback journal of the pages it replaces: if the follower dies mid-write, the next process that opens the
 * database — the restarted follower or any reader — rolls it back to the last committed state.
 */
export class LiveDatabase {
  private lock?: Database.Database;

  constructor(
    readonly path: string,
    readonly pageSize: number,
    private readonly busyTimeoutMs = 10_000,
  ) {}

  get journalPath(): string {
    return `${this.path}-journal`;
  }

  private connection(): Database.Database {
    if (!this.lock) {
      // A short busy timeout: while SQLite waits it holds the PENDING lock, which lets current readers finish and
      // turns new ones away, so a steady stream of readers cannot starve the follower. Longer waits are retried
      // asynchronously (lockExclusive) so they never stall the other databases.
      this.lock = new Database(this.path, { fileMustExist: true, timeout: 100 });
      // Reading the schema takes a shared lock, which is when SQLite rolls back a hot journal left by a crash.
      this.lock.pragma("schema_version");
    }
    return this.lock;
  }

  /**
   * Takes SQLite's EXCLUSIVE lock without blocking the process for long: SQLite's busy handler sleeps the thread
   * (100 ms at most here), then the attempt is retried asynchronously until the deadline.
   */
  private async lockExclusive(conn: Database.Database): Promise<void> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (;;) {
      try {
        conn.exec("BEGIN EXCLUSIVE");
        return;
      } catch (e) {
        if ((e as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  /** Rolls back what a crash left behind (via SQLite itself) and says whether it had to. */
  recover(): boolean {
    const hot = existsSync(this.journalPath);
    this.close();
    this.connection();
    return hot && !existsSync(this.journalPath);
  }

  /**
   * Replaces pages and sets the size, atomically for readers and crash-safely. Asynchronous file I/O, so the
   * fsyncs of many databases overlap instead of queueing behind each other.
   */
  async apply(pages: Map<number, Buffer>, dbPages: number): Promise<void> {
    const conn = this.connection();
    await this.lockExclusive(conn);
    let committed = false;
    try {
      const fh = await open(this.path, "r+");
      try {
        const size = (await fh.stat()).size;
        const oldPages = Math.floor(size / this.pageSize);
        const page1 = Buffer.alloc(this.pageSize);
        await fh.read(page1, 0, this.pageSize, 0);
        const counter = (page1.readUInt32BE(24) + 1) >>> 0;
        const writes = new Map(pages);
        writes.set(1, standbyPageOne(writes.get(1) ?? page1, counter, dbPages));
        for (const [pgno, data] of writes) {
          if (data.length !== this.pageSize)
            throw new Error(`page ${pgno} has ${data.length} bytes, not ${this.pageSize}`);
        }

        // 1. The journal: original images of every existing page about to change, then fsync.
        const originals = [...writes.keys()].filter((p) => p <= oldPages).sort((a, b) => a - b);
        const nonce = randomBytes(4).readUInt32BE(0);
        const journal = Buffer.alloc(JOURNAL_SECTOR + originals.length * (this.pageSize + 8));
        JOURNAL_MAGIC.copy(journal, 0);
        journal.writeUInt32BE(originals.length, 8);
        journal.writeUInt32BE(nonce, 12);
        journal.writeUInt32BE(oldPages, 16);
        journal.writeUInt32BE(JOURNAL_SECTOR, 20);
        journal.writeUInt32BE(this.pageSize, 24);
        let pos = JOURNAL_SECTOR;
        for (const pgno of originals) {
          journal.writeUInt32BE(pgno, pos);
          const orig = journal.subarray(pos + 4, pos + 4 + this.pageSize);
          await fh.read(orig, 0, this.pageSize, (pgno - 1) * this.pageSize);
          journal.writeUInt32BE(journalChecksum(nonce, orig), pos + 4 + this.pageSize);
          pos += this.pageSize + 8;
        }
        const jh = await open(this.journalPath, "w");
        try {
          await jh.write(journal, 0, journal.length, 0);
          await jh.sync();
        } finally {
          await jh.close();
        }

        // 2. The new pages and the new size, then fsync.
        for (const [pgno, data] of writes) {
          if (pgno <= dbPages) await fh.write(data, 0, data.length, (pgno - 1) * this.pageSize);
        }
        if (size !== dbPages * this.pageSize) await fh.truncate(dbPages * this.pageSize);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // 3. Commit point: without its journal the new state is the database.
      await unlink(this.journalPath);
      committed = true;
    } finally {
      // On failure the journal stays: SQLite rolls it back as soon as the lock is released and anyone opens it.
      conn.exec(committed ? "COMMIT" : "ROLLBACK");
      if (!committed) this.recover();
    }
  }

  close(): void {
    this.lock?.close();
    this.lock = undefined;
  }
}
