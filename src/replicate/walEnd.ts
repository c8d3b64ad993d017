import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FRAME_HEADER_SIZE, parseWalHeader, WAL_HEADER_SIZE, walChecksum } from "../follower/wal";
import { hex8, parsePosition } from "../replica/layout";

/** The last commit in a WAL: which WAL (its salts) and the byte offset where its commit frame ends. */
export interface WalEnd {
  salt1: number;
  salt2: number;
  end: number;
}

/**
 * Where the last committed transaction in a database's WAL ends, following SQLite's own rule: frames count while
 * their salts match the header and their checksums continue the chain; a reused WAL's stale tail stops it.
 * Undefined when there is no WAL, or nothing committed in it.
 */
export function committedWalEnd(dbPath: string): WalEnd | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(`${dbPath}-wal`);
  } catch {
    return undefined;
  }
  if (buf.length < WAL_HEADER_SIZE) return undefined;
  let chain: ReturnType<typeof parseWalHeader>;
  try {
    chain = parseWalHeader(buf);
  } catch {
    return undefined;
  }
  const frame = FRAME_HEADER_SIZE + chain.pageSize;
  let running: [number, number] = [chain.c1, chain.c2];
  let end = 0;
  for (let off = WAL_HEADER_SIZE; off + frame <= buf.length; off += frame) {
    if (buf.readUInt32BE(off + 8) !== chain.salt1 || buf.readUInt32BE(off + 12) !== chain.salt2) break;
    running = walChecksum(buf.subarray(off, off + 8), chain.bigEndian, running);
    running = walChecksum(buf.subarray(off + FRAME_HEADER_SIZE, off + frame), chain.bigEndian, running);
    if (running[0] !== buf.readUInt32BE(off + 16) || running[1] !== buf.readUInt32BE(off + 20)) break;
    if (buf.readUInt32BE(off + 4) !== 0) end = off + frame;
  }
  return end ? { salt1: chain.salt1, salt2: chain.salt2, end } : undefined;
}

/** The header of the shadow WAL Litestream keeps for one WAL index, or undefined when it has none. */
function shadowSalts(dbPath: string, generation: string, index: number): [number, number] | undefined {
  const dir = join(dirname(dbPath), `.${basename(dbPath)}-litestream`, "generations", generation, "wal");
  let name: string | undefined;
  try {
    name = readdirSync(dir).find((f) => f === `${hex8(index)}.wal`);
  } catch {
    return undefined;
  }
  if (!name || statSync(join(dir, name)).size < WAL_HEADER_SIZE) return undefined;
  const header = Buffer.alloc(WAL_HEADER_SIZE);
  const fd = openSync(join(dir, name), "r");
  try {
    readSync(fd, header, 0, WAL_HEADER_SIZE, 0);
  } finally {
    closeSync(fd);
  }
  return [header.readUInt32BE(16), header.readUInt32BE(20)];
}

/**
 * Whether Litestream's uploaded `position` covers `target` (a WAL's last commit, by default the one there now):
 * the position is in the shadow WAL of that same WAL (Litestream keeps one per WAL index, with the real header,
 * under `.NAME-litestream/generations/GEN/wal/`) at or past the commit, or already in the WAL after it.
 */
export function walUploaded(dbPath: string, position: string | undefined, target = committedWalEnd(dbPath)): boolean {
  if (!target) return true;
  const p = parsePosition(position);
  if (!p) return false;
  const same = (s: [number, number] | undefined) => !!s && s[0] === target.salt1 && s[1] === target.salt2;
  if (same(shadowSalts(dbPath, p.generation, p.index))) return p.offset >= target.end;
  // Moved on: the WAL before the uploaded one is the target's (Litestream uploads a WAL to its end before the next).
  return p.index > 0 && same(shadowSalts(dbPath, p.generation, p.index - 1));
}
