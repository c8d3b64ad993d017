import { xxhash32 } from "./xxhash32";

export class CorruptDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CorruptDataError";
  }
}

const FRAME_MAGIC = 0x184d2204;
/** Decoding is synchronous, so one scratch buffer serves every call; results are copied out of it. */
let scratch = Buffer.allocUnsafe(0);
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/** Decodes one LZ4 block into `out` starting at `pos`; returns the new end position. */
function decodeBlock(src: Uint8Array, out: Uint8Array, pos: number, history: number): number {
  let i = 0;
  let o = pos;
  const fail = (why: string): never => {
    throw new CorruptDataError(`lz4 block: ${why}`);
  };
  while (i < src.length) {
    const token = src[i++];
    let lit = token >>> 4;
    if (lit === 15) {
      let b: number;
      do {
        if (i >= src.length) fail("truncated literal length");
        b = src[i++];
        lit += b;
      } while (b === 255);
    }
    if (i + lit > src.length || o + lit > out.length) fail("literal run past the end");
    out.set(src.subarray(i, i + lit), o);
    i += lit;
    o += lit;
    if (i >= src.length) break; // the last sequence has literals only
    if (i + 2 > src.length) fail("truncated match offset");
    const offset = src[i] | (src[i + 1] << 8);
    i += 2;
    if (offset === 0 || offset > o - pos + history) fail("match offset out of range");
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (i >= src.length) fail("truncated match length");
        b = src[i++];
        len += b;
      } while (b === 255);
    }
    if (o + len > out.length) fail("match past the end of the block");
    let from = o - offset;
    // Byte by byte: matches may overlap their own output.
    for (let k = 0; k < len; k++) out[o++] = out[from++];
  }
  return o;
}

/**
 * Decodes an LZ4 frame (the format Litestream writes snapshots and WAL segments in), checking its header
 * checksum and, when present, block and content checksums. Anything malformed is a CorruptDataError.
 */
export function decodeLz4Frame(buf: Uint8Array): Buffer {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const parts: Buffer[] = [];
  let p = 0;
  while (p < buf.length) {
    if (p + 4 > buf.length) throw new CorruptDataError("lz4: truncated frame magic");
    const magic = dv.getUint32(p, true);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      p += 8 + dv.getUint32(p + 4, true);
      continue;
    }
    if (magic !== FRAME_MAGIC) throw new CorruptDataError(`lz4: bad frame magic ${magic.toString(16)}`);
    const flg = buf[p + 4];
    const bd = buf[p + 5];
    if (flg >>> 6 !== 1) throw new CorruptDataError("lz4: unsupported frame version");
    const blockIndependent = (flg & 0x20) !== 0;
    const blockChecksum = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    const hasDictId = (flg & 0x01) !== 0;
    const maxBlock = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20][(bd >>> 4) & 7];
    if (!maxBlock) throw new CorruptDataError("lz4: bad block size");
    const descLen = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0);
    const hc = buf[p + 4 + descLen];
    if (((xxhash32(buf.subarray(p + 4, p + 4 + descLen)) >>> 8) & 0xff) !== hc)
      throw new CorruptDataError("lz4: frame header checksum mismatch");
    p += 4 + descLen + 1;
    // Blocks may refer back into the previous 64 KiB unless independent, so decode into one growing buffer.
    if (scratch.length < maxBlock * 2) scratch = Buffer.allocUnsafe(maxBlock * 2);
    let out = scratch;
    let o = 0;
    const frameStart = 0;
    for (;;) {
      if (p + 4 > buf.length) throw new CorruptDataError("lz4: truncated block size");
      const raw = dv.getUint32(p, true);
      p += 4;
      if (raw === 0) break;
      const size = raw & 0x7fffffff;
      if (p + size > buf.length) throw new CorruptDataError("lz4: truncated block");
      const block = buf.subarray(p, p + size);
      p += size;
      if (blockChecksum) {
        if (p + 4 > buf.length || dv.getUint32(p, true) !== xxhash32(block))
          throw new CorruptDataError("lz4: block checksum mismatch");
        p += 4;
      }
      if (out.length - o < maxBlock) {
        const grown = Buffer.allocUnsafe(Math.max(out.length * 2, o + maxBlock));
        out.copy(grown, 0, 0, o);
        out = grown;
        scratch = grown;
      }
      const start = o;
      if (raw & 0x80000000) {
        out.set(block, o);
        o += size;
      } else {
        o = decodeBlock(block, out, o, blockIndependent ? 0 : start - frameStart);
      }
    }
    const content = out.subarray(0, o);
    if (contentChecksum) {
      if (p + 4 > buf.length || dv.getUint32(p, true) !== xxhash32(content))
        throw new CorruptDataError("lz4: content checksum mismatch");
      p += 4;
    }
    // A large result takes the scratch buffer with it instead of being copied (a 400 MB snapshot would
    // otherwise be held twice); small ones are copied so the scratch stays for the next segment.
    if (content.length > 16 << 20) {
      parts.push(content);
      scratch = Buffer.allocUnsafe(0);
    } else {
      parts.push(Buffer.from(content));
    }
  }
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

/** Decodes one raw LZ4 block that must expand to exactly `size` bytes (how LTX stores each page). */
export function decodeLz4Block(src: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  const end = decodeBlock(src, out, 0, 0);
  if (end !== size) throw new CorruptDataError(`lz4 block: expanded to ${end} bytes, not ${size}`);
  return out;
}
