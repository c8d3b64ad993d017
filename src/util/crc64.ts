/**
 * CRC-64 with the ISO 3309 polynomial, bit-reflected, as Go's hash/crc64 with crc64.ISO computes it (initial and
 * final value inverted): the checksum of Litestream 0.5's LTX files and of the database states they lead to. Kept
 * as two 32-bit halves: BigInt per byte is far too slow for whole databases.
 */
const TABLE_HI = new Uint32Array(256);
const TABLE_LO = new Uint32Array(256);
{
  const POLY_HI = 0xd8000000;
  for (let i = 0; i < 256; i++) {
    let hi = 0;
    let lo = i;
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1;
      lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
      hi = hi >>> 1;
      if (bit) hi = (hi ^ POLY_HI) >>> 0;
    }
    TABLE_HI[i] = hi;
    TABLE_LO[i] = lo;
  }
}

/** A running CRC-64/ISO; `update` with each piece, then `value`. */
export class Crc64 {
  private hi = 0xffffffff;
  private lo = 0xffffffff;

  update(buf: Uint8Array): this {
    let hi = this.hi;
    let lo = this.lo;
    for (let i = 0; i < buf.length; i++) {
      const idx = (lo ^ buf[i]) & 0xff;
      lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ TABLE_LO[idx]) >>> 0;
      hi = ((hi >>> 8) ^ TABLE_HI[idx]) >>> 0;
    }
    this.hi = hi;
    this.lo = lo;
    return this;
  }

  /** The checksum as an unsigned 64-bit integer. */
  value(): bigint {
    return (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
  }
}

export function crc64(...parts: Uint8Array[]): bigint {
  const c = new Crc64();
  for (const p of parts) c.update(p);
  return c.value();
}
