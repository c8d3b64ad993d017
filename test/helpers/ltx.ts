import { Crc64 } from "../../src/util/crc64";

/** An LZ4 block of literals only: valid LZ4 (the last sequence of a block may be all literals). */
function lz4Literals(data: Buffer): Buffer {
  const parts: number[] = [];
  let len = data.length;
  parts.push(Math.min(len, 15) << 4);
  if (len >= 15) {
    len -= 15;
    while (len >= 255) {
      parts.push(255);
      len -= 255;
    }
    parts.push(len);
  }
  return Buffer.concat([Buffer.from(parts), data]);
}

/**
 * An LTX file (format version 3, as Litestream 0.5 writes them) for unit tests: pages LZ4-compressed (literals),
 * an empty page index, the file checksum computed as the spec says. `pre`/`post` set database checksums
 * (otherwise the no-checksum flag is set, as Litestream 0.5.17 does).
 */
export function encodeLtx(o: {
  pageSize: number;
  commit: number;
  minTxid: bigint;
  maxTxid: bigint;
  pages: Map<number, Buffer>;
  pre?: bigint;
  post?: bigint;
  timestamp?: number;
}): Buffer {
  const tracked = o.post !== undefined;
  const header = Buffer.alloc(100);
  header.write("LTX1", 0, "latin1");
  header.writeUInt32BE(tracked ? 0 : 2, 4);
  header.writeUInt32BE(o.pageSize, 8);
  header.writeUInt32BE(o.commit, 12);
  header.writeBigUInt64BE(o.minTxid, 16);
  header.writeBigUInt64BE(o.maxTxid, 24);
  header.writeBigUInt64BE(BigInt(o.timestamp ?? Date.now()), 32);
  header.writeBigUInt64BE(o.pre ?? 0n, 40);
  const crc = new Crc64().update(header);
  const out: Buffer[] = [header];
  for (const pgno of [...o.pages.keys()].sort((a, b) => a - b)) {
    const data = o.pages.get(pgno) as Buffer;
    const body = lz4Literals(data);
    const ph = Buffer.alloc(10);
    ph.writeUInt32BE(pgno, 0);
    ph.writeUInt16BE(1, 4);
    ph.writeUInt32BE(body.length, 6);
    crc.update(ph).update(data);
    out.push(ph, body);
  }
  const end = Buffer.alloc(6);
  const index = Buffer.concat([Buffer.from([0]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 1])]);
  crc.update(end).update(index);
  const trailer = Buffer.alloc(16);
  trailer.writeBigUInt64BE(o.post ?? 0n, 0);
  crc.update(trailer.subarray(0, 8));
  trailer.writeBigUInt64BE(crc.value() | (1n << 63n), 8);
  out.push(end, index, trailer);
  return Buffer.concat(out);
}
