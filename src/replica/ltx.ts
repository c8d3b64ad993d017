import { Crc64 } from "../util/crc64";
import { CorruptDataError, decodeLz4Block, decodeLz4Frame } from "../util/lz4";

/**
 * Litestream 0.5's replica file: LTX (github.com/superfly/ltx, format version 3). A 100-byte header, page frames
 * in page order (each LZ4-compressed), a page index, a 16-byte trailer with the database checksum after the file
 * is applied and a CRC-64 over the file's logical content. One L0 file per TXID (one Litestream sync); compacted
 * files cover a range of TXIDs; a snapshot (MinTXID 1) holds every page of the database.
 */
export interface LtxHeader {
  flags: number;
  pageSize: number;
  /** The database's size in pages after the file is applied. */
  commit: number;
  minTxid: bigint;
  maxTxid: bigint;
  /** Milliseconds since the epoch when Litestream wrote it. */
  timestamp: number;
  /** The database checksum before the file (0 for a snapshot, or when checksums are off). */
  preApplyChecksum: bigint;
}

export interface LtxFile {
  header: LtxHeader;
  /** Page number → page content, each exactly pageSize bytes. */
  pages: Map<number, Buffer>;
  /** The database checksum once the file is applied (0 when checksums are off). */
  postApplyChecksum: bigint;
}

const MAGIC = "LTX1";
const HEADER_SIZE = 100;
const TRAILER_SIZE = 16;
const PAGE_HEADER_SIZE = 6;
const FLAG_NO_CHECKSUM = 1 << 1;
const PAGE_FLAG_SIZE = 1 << 0;
export const CHECKSUM_FLAG = 1n << 63n;

/** Whether the file carries database checksums (a header flag can turn them off). */
export function tracksChecksums(h: LtxHeader): boolean {
  return (h.flags & FLAG_NO_CHECKSUM) === 0;
}

export function isSnapshot(h: LtxHeader): boolean {
  return h.minTxid === 1n;
}

/** The page SQLite never stores (it holds the lock byte); LTX skips it, and so do its checksums. */
export function lockPage(pageSize: number): number {
  return Math.floor(0x40000000 / pageSize) + 1;
}

/**
 * Decodes and verifies one LTX file: magic, header fields, every page (decompressed to exactly the page size,
 * page numbers ascending), the terminator, and the file checksum over the logical content. Anything wrong is a
 * CorruptDataError: a partial upload, a flipped bit, a file of another format. It never returns half a file.
 */
export function decodeLtx(buf: Buffer): LtxFile {
  const fail = (why: string): never => {
    throw new CorruptDataError(`ltx: ${why}`);
  };
  if (buf.length < HEADER_SIZE + PAGE_HEADER_SIZE + TRAILER_SIZE) fail(`${buf.length} bytes is too short`);
  if (buf.toString("latin1", 0, 4) !== MAGIC) fail("not an LTX file (bad magic)");
  const header: LtxHeader = {
    flags: buf.readUInt32BE(4),
    pageSize: buf.readUInt32BE(8),
    commit: buf.readUInt32BE(12),
    minTxid: buf.readBigUInt64BE(16),
    maxTxid: buf.readBigUInt64BE(24),
    timestamp: Number(buf.readBigUInt64BE(32)),
    preApplyChecksum: buf.readBigUInt64BE(40),
  };
  if ((header.flags & ~FLAG_NO_CHECKSUM) !== 0) fail(`unknown header flags ${header.flags.toString(16)}`);
  const ps = header.pageSize;
  if (ps < 512 || ps > 65536 || (ps & (ps - 1)) !== 0) fail(`invalid page size ${ps}`);
  if (header.minTxid < 1n || header.maxTxid < header.minTxid)
    fail(`invalid TXID range ${header.minTxid}-${header.maxTxid}`);
  const crc = new Crc64().update(buf.subarray(0, HEADER_SIZE));
  const pages = new Map<number, Buffer>();
  const end = buf.length - TRAILER_SIZE;
  let i = HEADER_SIZE;
  let last = 0;
  for (;;) {
    if (i + PAGE_HEADER_SIZE > end) fail("truncated page block");
    const pgno = buf.readUInt32BE(i);
    const flags = buf.readUInt16BE(i + 4);
    if (pgno === 0) {
      if (flags !== 0) fail("bad page block terminator");
      crc.update(buf.subarray(i, i + PAGE_HEADER_SIZE));
      i += PAGE_HEADER_SIZE;
      break;
    }
    if (pgno <= last) fail(`page ${pgno} after page ${last}: pages out of order`);
    if ((flags & ~PAGE_FLAG_SIZE) !== 0) fail(`unknown page flags ${flags.toString(16)} on page ${pgno}`);
    let data: Buffer;
    if (flags & PAGE_FLAG_SIZE) {
      if (i + PAGE_HEADER_SIZE + 4 > end) fail(`truncated page ${pgno}`);
      const size = buf.readUInt32BE(i + PAGE_HEADER_SIZE);
      const from = i + PAGE_HEADER_SIZE + 4;
      if (from + size > end) fail(`page ${pgno} runs past the end of the file`);
      crc.update(buf.subarray(i, from));
      data = decodeLz4Block(buf.subarray(from, from + size), ps);
      i = from + size;
    } else {
      // Frames without the size flag (older version 3 encoders) hold an LZ4 frame; its end is found by decoding.
      crc.update(buf.subarray(i, i + PAGE_HEADER_SIZE));
      const { data: d, used } = decodeFrameAt(buf, i + PAGE_HEADER_SIZE, end);
      if (d.length !== ps) fail(`page ${pgno} is ${d.length} bytes, not ${ps}`);
      data = d;
      i += PAGE_HEADER_SIZE + used;
    }
    crc.update(data);
    pages.set(pgno, data);
    last = pgno;
  }
  // The page index: hashed as stored; the pages were read in order already, so it is not needed to read them.
  if (i > end) fail("truncated page index");
  crc.update(buf.subarray(i, end));
  const postApplyChecksum = buf.readBigUInt64BE(end);
  crc.update(buf.subarray(end, end + 8));
  const fileChecksum = buf.readBigUInt64BE(end + 8);
  if ((crc.value() | CHECKSUM_FLAG) !== fileChecksum)
    fail(
      `file checksum mismatch (stored ${fileChecksum.toString(16)}, computed ${(crc.value() | CHECKSUM_FLAG).toString(16)})`,
    );
  if (tracksChecksums(header) && (postApplyChecksum & CHECKSUM_FLAG) === 0n) fail("post-apply checksum missing");
  if (last > header.commit) fail(`page ${last} is past the database's size of ${header.commit} pages`);
  return { header, pages, postApplyChecksum };
}

/** An LZ4 frame starting at `from`: its content and how many bytes it took (found by trying growing ends). */
function decodeFrameAt(buf: Buffer, from: number, end: number): { data: Buffer; used: number } {
  // The frame ends with an end mark (4 zero bytes) and perhaps a content checksum; try each zero run as the end.
  for (let j = from + 7; j + 4 <= end; j++) {
    if (buf.readUInt32LE(j) !== 0) continue;
    for (const tail of [4, 8]) {
      if (j + tail > end) continue;
      try {
        return { data: decodeLz4Frame(buf.subarray(from, j + tail)), used: j + tail - from };
      } catch {
        // not the end yet
      }
    }
  }
  throw new CorruptDataError("ltx: unterminated page frame");
}

/** One page's part of a database checksum: CRC-64 over its big-endian number and its content, flagged. */
export function pageChecksum(pgno: number, data: Uint8Array): bigint {
  const n = Buffer.alloc(4);
  n.writeUInt32BE(pgno);
  return new Crc64().update(n).update(data).value() | CHECKSUM_FLAG;
}

/**
 * A database's checksum as LTX defines it (XOR of every page's, the lock page excluded, flagged), kept up to date
 * page by page as files are applied, so that each file's post-apply checksum can be checked without reading
 * the whole database again.
 */
export class DatabaseChecksum {
  private readonly pages: bigint[] = [];
  private acc = 0n;

  constructor(readonly pageSize: number) {}

  /** Sets page `pgno` to `data` (1-based). */
  set(pgno: number, data: Uint8Array): void {
    if (pgno === lockPage(this.pageSize)) return;
    const old = this.pages[pgno - 1];
    if (old !== undefined) this.acc ^= old;
    const c = pageChecksum(pgno, data);
    this.pages[pgno - 1] = c;
    this.acc ^= c;
  }

  /** Drops the pages past `commit` (the database shrank). */
  truncate(commit: number): void {
    while (this.pages.length > commit) {
      const c = this.pages.pop();
      if (c !== undefined) this.acc ^= c;
    }
  }

  get size(): number {
    return this.pages.length;
  }

  value(): bigint {
    return (this.acc & ~CHECKSUM_FLAG) | CHECKSUM_FLAG;
  }
}
