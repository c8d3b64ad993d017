import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { consumeSegment, type FollowPosition, mergeTransactions } from "../src/follower/position";
import { parseFrames, parseWalHeader, WAL_HEADER_SIZE } from "../src/follower/wal";
import {
  formatPosition,
  parsePosition,
  segmentKey,
  segmentOffset,
  snapshotIndex,
  snapshotsPrefix,
  walPrefix,
} from "../src/replica/layout";
import { manifestKey, readManifest } from "../src/replica/manifest";
import { FileStore } from "../src/store/fileStore";
import { CorruptDataError, decodeLz4Frame } from "../src/util/lz4";
import { xxhash32 } from "../src/util/xxhash32";
import { tempDir } from "./helpers/env";

/** A valid LZ4 frame with stored (uncompressed) blocks, block and content checksums: the format's own rules. */
function lz4Frame(content: Buffer, blockSize = 65536): Buffer {
  const desc = Buffer.from([0x40 | 0x20 | 0x10 | 0x04, 0x40]);
  const parts: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18]), desc, Buffer.from([(xxhash32(desc) >>> 8) & 0xff])];
  for (let o = 0; o < content.length; o += blockSize) {
    const block = content.subarray(o, o + blockSize);
    const h = Buffer.alloc(4);
    h.writeUInt32LE((block.length | 0x80000000) >>> 0);
    const c = Buffer.alloc(4);
    c.writeUInt32LE(xxhash32(block));
    parts.push(h, block, c);
  }
  const end = Buffer.alloc(8);
  end.writeUInt32LE(xxhash32(content), 4);
  parts.push(end);
  return Buffer.concat(parts);
}

test("lz4: frames decode; a flipped byte, a truncation or a bad header is CorruptDataError, never wrong bytes", () => {
  const content = Buffer.from(Array.from({ length: 150_000 }, (_, i) => (i * 31) & 0xff));
  const frame = lz4Frame(content);
  assert.ok(decodeLz4Frame(frame).equals(content));
  assert.ok(
    decodeLz4Frame(Buffer.concat([lz4Frame(content.subarray(0, 10)), lz4Frame(content.subarray(10, 20))])).equals(
      content.subarray(0, 20),
    ),
    "concatenated frames",
  );
  for (const at of [0, 5, 6, 20, 5000, 70_000, frame.length - 2]) {
    const bad = Buffer.from(frame);
    bad[at] ^= 0x01;
    assert.throws(() => decodeLz4Frame(bad), CorruptDataError, `flipped byte at ${at}`);
  }
  for (const cut of [3, 6, 12, 100, 65_600, frame.length - 1])
    assert.throws(() => decodeLz4Frame(frame.subarray(0, cut)), CorruptDataError, `truncated at ${cut}`);
  assert.equal(decodeLz4Frame(Buffer.alloc(0)).length, 0, "an empty input is no frames");
});

/** A real SQLite WAL: header and frames as SQLite wrote them, with several committed transactions. */
function realWal(dir: string): { wal: Buffer; pageSize: number } {
  const path = join(dir, "w.db");
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("wal_autocheckpoint = 0");
  db.exec("CREATE TABLE t (x)");
  for (let i = 0; i < 5; i++) db.prepare("INSERT INTO t VALUES (?)").run(Buffer.alloc(1500, i));
  const wal = readFileSync(`${path}-wal`);
  db.close();
  return { wal, pageSize: 4096 };
}

test("wal: SQLite's own WAL parses into committed transactions; a broken chain, salt or frame count is corruption", (t) => {
  const { wal, pageSize } = realWal(tempDir(t, "wal"));
  const chain = parseWalHeader(wal);
  assert.equal(chain.pageSize, pageSize);
  const frames = wal.subarray(WAL_HEADER_SIZE);
  const parsed = parseFrames(frames, chain);
  assert.equal(parsed.transactions.length, 6, "CREATE and five INSERTs");
  assert.equal(parsed.pendingFrames, 0);
  assert.equal(parsed.committedBytes, frames.length);
  const frame = 24 + pageSize;
  // A torn last transaction: only whole frames up to its commit count; the rest waits as pending.
  const half = parseFrames(frames.subarray(0, frame), chain);
  assert.ok(half.transactions.length <= 1);
  for (const at of [8, 16, 24 + 100]) {
    const bad = Buffer.from(frames);
    bad[frame + at] ^= 0xff;
    assert.throws(() => parseFrames(bad, chain), CorruptDataError, `byte ${at} of the second frame`);
  }
  assert.throws(() => parseFrames(frames.subarray(0, frame + 10), chain), CorruptDataError, "partial frame");
  const header = Buffer.from(wal.subarray(0, WAL_HEADER_SIZE));
  header[12] ^= 1;
  assert.throws(() => parseWalHeader(header), CorruptDataError, "header checksum");
});

test("positions: segments chain across boundaries, an uncommitted tail is carried, merges keep the newest page", (t) => {
  const { wal, pageSize } = realWal(tempDir(t, "pos"));
  const frame = 24 + pageSize;
  const start: FollowPosition = {
    generation: "0123456789abcdef",
    index: 0,
    offset: 0,
    pageSize,
    dbPages: 1,
    appliedAt: "",
  };
  // Split the WAL where no segment boundary would be: in the middle of a transaction's frames.
  const cut = WAL_HEADER_SIZE + 3 * frame;
  const a = consumeSegment(start, wal.subarray(0, cut));
  assert.equal(a.next.offset, cut);
  const b = consumeSegment(a.next, wal.subarray(cut));
  assert.equal(b.next.offset, wal.length);
  assert.equal(b.next.pending, undefined, "everything committed in the end");
  const all = consumeSegment(start, wal);
  assert.equal(a.transactions.length + b.transactions.length, all.transactions.length);
  const merged = mergeTransactions(all.transactions, 1);
  const last = all.transactions[all.transactions.length - 1];
  assert.equal(merged.dbPages, last.dbPages);
  for (const [p, img] of last.pages) assert.ok(merged.pages.get(p)?.equals(img), `page ${p} is its newest image`);
  // A segment that does not continue the chain (skipped bytes) is corrupt, and leaves the position as it was.
  assert.throws(() => consumeSegment(a.next, wal.subarray(cut + frame)), CorruptDataError);
  assert.throws(() => consumeSegment({ ...start, pageSize: 1024 }, wal), CorruptDataError, "page size mismatch");
});

test("layout: keys and positions round-trip; anything else parses to undefined", () => {
  const p = { generation: "0123456789abcdef", index: 0x1a, offset: 4152 };
  assert.equal(formatPosition(p), "0123456789abcdef/0000001a:4152");
  assert.deepEqual(parsePosition(formatPosition(p)), p);
  for (const bad of [undefined, "", "0123456789abcdef/1a:4152", "0123456789ABCDEF/0000001a:4152", "x/0000001a:1"])
    assert.equal(parsePosition(bad), undefined, String(bad));
  const key = segmentKey("litestream/mc", p.generation, p.index, p.offset);
  assert.equal(key, "litestream/mc/generations/0123456789abcdef/wal/0000001a_00001038.wal.lz4");
  assert.equal(segmentOffset(key, walPrefix("litestream/mc", p.generation, p.index)), 4152);
  assert.equal(segmentOffset(key, walPrefix("litestream/mc", p.generation, 0x1b)), undefined);
  const snaps = snapshotsPrefix("litestream/mc", p.generation);
  assert.equal(snapshotIndex(`${snaps}0000001f.snapshot.lz4`, snaps), 0x1f);
  assert.equal(snapshotIndex(`${snaps}0000001f.snapshot.lz4.tmp`, snaps), undefined);
});

test("manifest: a missing, unparsable or unknown-version manifest reads as none", async (t) => {
  const store = new FileStore(tempDir(t, "manifest"));
  assert.equal(await readManifest(store, "litestream/"), undefined);
  for (const body of ["{not json", "[]", '{"version":2,"databases":{}}', '{"version":1}']) {
    await store.put(manifestKey("litestream/"), Buffer.from(body));
    assert.equal(await readManifest(store, "litestream/"), undefined, body);
  }
  await store.put(manifestKey("litestream/"), Buffer.from('{"version":1,"node":"a","publishedAt":"x","databases":{}}'));
  assert.equal((await readManifest(store, "litestream/"))?.node, "a");
});
