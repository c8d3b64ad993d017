import { CorruptDataError } from "../util/lz4";

export const WAL_HEADER_SIZE = 32;
export const FRAME_HEADER_SIZE = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

/** Where a WAL's checksum chain stands: enough to validate the next frame without the bytes before it. */
export interface WalChain {
  pageSize: number;
  bigEndian: boolean;
  salt1: number;
  salt2: number;
  c1: number;
  c2: number;
}

/** SQLite's WAL checksum: pairs of 32-bit words folded into two running sums, seeded by the previous ones. */
export function walChecksum(data: Uint8Array, bigEndian: boolean, s: [number, number]): [number, number] {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let s0 = s[0];
  let s1 = s[1];
  for (let i = 0; i < data.length; i += 8) {
    const x0 = dv.getUint32(i, !bigEndian);
    const x1 = dv.getUint32(i + 4, !bigEndian);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

export function parseWalHeader(buf: Uint8Array): WalChain {
  if (buf.length < WAL_HEADER_SIZE) throw new CorruptDataError("wal: header truncated");
  const dv = new DataView(buf.buffer, buf.byteOffset, WAL_HEADER_SIZE);
  const magic = dv.getUint32(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) throw new CorruptDataError(`wal: bad magic ${magic.toString(16)}`);
  const bigEndian = magic === MAGIC_BE;
  const raw = dv.getUint32(8);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    throw new CorruptDataError(`wal: bad page size ${raw}`);
  const [c1, c2] = walChecksum(buf.subarray(0, 24), bigEndian, [0, 0]);
  if (c1 !== dv.getUint32(24) || c2 !== dv.getUint32(28)) throw new CorruptDataError("wal: header checksum mismatch");
  return { pageSize, bigEndian, salt1: dv.getUint32(16), salt2: dv.getUint32(20), c1, c2 };
}

export interface WalTransaction {
  /** Page images in write order; a later image of the same page wins. */
  pages: Map<number, Buffer>;
  /** Size of the database in pages after this commit. */
  dbPages: number;
}

export interface WalParse {
  transactions: WalTransaction[];
  /** The chain after the last committed frame: where the next segment continues. */
  chain: WalChain;
  /** Bytes of `data` consumed up to and including the last commit frame. */
  committedBytes: number;
  /** Frames after the last commit (kept for the next segment, never applied alone). */
  pendingFrames: number;
}

/**
 * Validates frames against the chain (salts and cumulative checksums) and groups them into committed
 * transactions. `data` starts at a frame boundary (after the header, if it had one).
 * A frame that breaks the chain is corruption: nothing after it is trusted.
 */
export function parseFrames(data: Uint8Array, start: WalChain): WalParse {
  const size = FRAME_HEADER_SIZE + start.pageSize;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const transactions: WalTransaction[] = [];
  let chain = { ...start };
  let running: [number, number] = [start.c1, start.c2];
  let pages = new Map<number, Buffer>();
  let committedBytes = 0;
  let pending = 0;
  if (data.length % size !== 0) throw new CorruptDataError(`wal: ${data.length} bytes is not a whole number of frames`);
  for (let off = 0; off < data.length; off += size) {
    const pgno = dv.getUint32(off);
    const commit = dv.getUint32(off + 4);
    if (dv.getUint32(off + 8) !== start.salt1 || dv.getUint32(off + 12) !== start.salt2)
      throw new CorruptDataError(`wal: frame at +${off} has salts of another WAL`);
    running = walChecksum(data.subarray(off, off + 8), start.bigEndian, running);
    running = walChecksum(data.subarray(off + FRAME_HEADER_SIZE, off + size), start.bigEndian, running);
    if (running[0] !== dv.getUint32(off + 16) || running[1] !== dv.getUint32(off + 20))
      throw new CorruptDataError(`wal: frame at +${off} fails its checksum`);
    if (pgno === 0) throw new CorruptDataError(`wal: frame at +${off} names page 0`);
    pages.set(pgno, Buffer.from(data.subarray(off + FRAME_HEADER_SIZE, off + size)));
    pending++;
    if (commit !== 0) {
      transactions.push({ pages, dbPages: commit });
      pages = new Map();
      committedBytes = off + size;
      chain = { ...start, c1: running[0], c2: running[1] };
      pending = 0;
    }
  }
  return { transactions, chain, committedBytes, pendingFrames: pending };
}
