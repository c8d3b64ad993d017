import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { type FileHandle, open, readFile, unlink } from "node:fs/promises";

/**
 * SQLite's rollback journal, as the follower writes it before changing a copy: one header sector, then for each
 * page it replaces or cuts off, the page number, the original image and a checksum. SQLite itself rolls such a
 * journal back when it finds it hot; the follower and its lock keeper roll it back themselves while they still
 * hold the lock, so that readers never meet a hot journal they cannot roll back (read-only ones cannot).
 */
const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
const JOURNAL_SECTOR = 512;

export interface JournalContents {
  /** Original images by page number. */
  originals: Map<number, Buffer>;
  /** The database's size in pages before the apply. */
  oldPages: number;
  pageSize: number;
}

/** SQLite's rollback-journal page checksum: the nonce plus every 200th byte counted back from the end. */
function journalChecksum(nonce: number, page: Buffer): number {
  let sum = nonce;
  for (let i = page.length - 200; i > 0; i -= 200) sum = (sum + page[i]) >>> 0;
  return sum >>> 0;
}

export function encodeJournal(j: JournalContents): Buffer {
  const nonce = randomBytes(4).readUInt32BE(0);
  const buf = Buffer.alloc(JOURNAL_SECTOR + j.originals.size * (j.pageSize + 8));
  JOURNAL_MAGIC.copy(buf, 0);
  buf.writeUInt32BE(j.originals.size, 8);
  buf.writeUInt32BE(nonce, 12);
  buf.writeUInt32BE(j.oldPages, 16);
  buf.writeUInt32BE(JOURNAL_SECTOR, 20);
  buf.writeUInt32BE(j.pageSize, 24);
  let pos = JOURNAL_SECTOR;
  for (const [pgno, orig] of j.originals) {
    buf.writeUInt32BE(pgno, pos);
    orig.copy(buf, pos + 4);
    buf.writeUInt32BE(journalChecksum(nonce, orig), pos + 4 + j.pageSize);
    pos += j.pageSize + 8;
  }
  return buf;
}

/**
 * Reads a journal the follower wrote; undefined when there is none or its header is not whole (then no page of
 * the database was touched yet). Records past a torn write fail their checksum and are left out: the database
 * pages are only written after the whole journal is durable, so a torn journal means untouched pages.
 */
export async function readJournal(path: string): Promise<JournalContents | undefined> {
  if (!existsSync(path)) return undefined;
  const buf = await readFile(path);
  if (buf.length < JOURNAL_SECTOR || !buf.subarray(0, 8).equals(JOURNAL_MAGIC)) return undefined;
  const n = buf.readUInt32BE(8);
  const nonce = buf.readUInt32BE(12);
  const oldPages = buf.readUInt32BE(16);
  const pageSize = buf.readUInt32BE(24);
  const originals = new Map<number, Buffer>();
  let pos = buf.readUInt32BE(20) || JOURNAL_SECTOR;
  for (let i = 0; i < n && pos + pageSize + 8 <= buf.length; i++, pos += pageSize + 8) {
    const page = buf.subarray(pos + 4, pos + 4 + pageSize);
    if (buf.readUInt32BE(pos + 4 + pageSize) !== journalChecksum(nonce, page)) break;
    originals.set(buf.readUInt32BE(pos), Buffer.from(page));
  }
  return { originals, oldPages, pageSize };
}

/** Writes the journal durably; on failure removes what it wrote (a partial journal describes nothing). */
export async function writeJournal(path: string, j: JournalContents): Promise<void> {
  const buf = encodeJournal(j);
  try {
    const jh = await open(path, "w");
    try {
      await jh.write(buf, 0, buf.length, 0);
      await jh.sync();
    } finally {
      await jh.close();
    }
  } catch (e) {
    await unlink(path).catch(() => undefined);
    throw e;
  }
}

/**
 * Puts the original pages back, as SQLite's rollback would, and removes the journal. Only while the lock is
 * held. Shrinking first frees what a failed apply grew (a full disk needs that space back); the originals lie
 * within the old size.
 */
export async function restoreOriginals(fh: FileHandle, j: JournalContents, journalPath: string): Promise<void> {
  const oldSize = j.oldPages * j.pageSize;
  if ((await fh.stat()).size > oldSize) await fh.truncate(oldSize);
  for (const [pgno, data] of j.originals) await fh.write(data, 0, data.length, (pgno - 1) * j.pageSize);
  if ((await fh.stat()).size !== oldSize) await fh.truncate(oldSize);
  await fh.sync();
  await unlink(journalPath).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
  });
}
