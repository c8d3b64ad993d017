import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { applyLtx } from "../src/follower/buildLtx";
import { familyOf } from "../src/litestream/binary";
import { formatProblem, type ReplicaFormat } from "../src/litestream/format";
import { DatabaseChecksum, decodeLtx } from "../src/replica/ltx";
import { type LtxFileInfo, restorePlan } from "../src/replica/ltxLayout";
import { crc64 } from "../src/util/crc64";
import { CorruptDataError } from "../src/util/lz4";
import { tempDir } from "./helpers/env";
import { encodeLtx } from "./helpers/ltx";

const page = (fill: number, size = 512) => Buffer.alloc(size, fill);

test("crc64: Go's crc64.ISO check value", () => {
  assert.equal(crc64(Buffer.from("123456789")).toString(16), "b90956c775a41001");
});

test("decodeLtx: pages and header come back; a flipped byte, a cut file or another format is CorruptDataError, never half a file", () => {
  const pages = new Map([
    [1, page(1)],
    [2, page(2)],
    [3, page(3)],
  ]);
  const raw = encodeLtx({ pageSize: 512, commit: 3, minTxid: 1n, maxTxid: 1n, pages });
  const f = decodeLtx(raw);
  assert.equal(f.header.commit, 3);
  assert.equal(f.header.minTxid, 1n);
  assert.deepEqual([...f.pages.keys()], [1, 2, 3]);
  assert.ok(f.pages.get(2)?.equals(page(2)));
  for (const at of [10, 100, 120, raw.length - 30, raw.length - 9]) {
    const bad = Buffer.from(raw);
    bad[at] ^= 0x40;
    assert.throws(() => decodeLtx(bad), CorruptDataError, `a flipped byte at ${at}`);
  }
  assert.throws(() => decodeLtx(raw.subarray(0, raw.length - 20)), CorruptDataError);
  assert.throws(() => decodeLtx(Buffer.concat([Buffer.from("SQLite format 3\0"), raw.subarray(16)])), /bad magic/);
});

test("applyLtx: with database checksums tracked, a file made for another state is refused before any page is written", (t) => {
  const dir = tempDir(t, "ltx");
  const snapPages = new Map([
    [1, page(1)],
    [2, page(2)],
  ]);
  const sum = new DatabaseChecksum(512);
  for (const [p, d] of snapPages) sum.set(p, d);
  const snapshot = encodeLtx({
    pageSize: 512,
    commit: 2,
    minTxid: 1n,
    maxTxid: 1n,
    pages: snapPages,
    post: sum.value(),
  });
  const after = new DatabaseChecksum(512);
  after.set(1, page(1));
  after.set(2, page(9));
  const delta = encodeLtx({
    pageSize: 512,
    commit: 2,
    minTxid: 2n,
    maxTxid: 2n,
    pages: new Map([[2, page(9)]]),
    pre: sum.value(),
    post: after.value(),
  });
  const path = join(dir, "db");
  const fd = openSync(path, "w+");
  const running = new DatabaseChecksum(512);
  applyLtx(fd, decodeLtx(snapshot), 512, running, "snapshot");
  applyLtx(fd, decodeLtx(delta), 512, running, "delta");
  assert.equal(running.value(), after.value());
  assert.ok(readFileSync(path).subarray(512).equals(page(9)));
  // The same delta again: its pre-apply checksum no longer matches.
  const before = readFileSync(path);
  const other = encodeLtx({
    pageSize: 512,
    commit: 2,
    minTxid: 3n,
    maxTxid: 3n,
    pages: new Map([[1, page(7)]]),
    pre: sum.value(),
    post: after.value(),
  });
  assert.throws(() => applyLtx(fd, decodeLtx(other), 512, running, "stale"), /made for a database with checksum/);
  closeSync(fd);
  assert.ok(readFileSync(path).equals(before), "nothing of the refused file was written");
});

test("restorePlan: the newest snapshot, then at each step the file reaching furthest (compacted levels first), and whether a gap stopped it", () => {
  const f = (level: number, min: number, max: number): LtxFileInfo => ({
    key: `p/ltx/${level}/${min}-${max}.ltx`,
    level,
    minTxid: BigInt(min),
    maxTxid: BigInt(max),
    size: 1,
    at: new Date(1000 * max),
  });
  const l0 = Array.from({ length: 15 }, (_, i) => f(0, 11 + i, 11 + i));
  const files = [f(9, 1, 5), f(9, 1, 10), f(1, 11, 20), f(2, 1, 18), ...l0];
  const plan = restorePlan(files);
  assert.deepEqual(
    plan?.files.map((x) => x.key),
    ["p/ltx/9/1-10.ltx", "p/ltx/1/11-20.ltx", ...[21, 22, 23, 24, 25].map((n) => `p/ltx/0/${n}-${n}.ltx`)],
  );
  assert.equal(plan?.txid, 25n);
  assert.equal(plan?.complete, true);
  const gap = restorePlan(files.filter((x) => x.key !== "p/ltx/0/23-23.ltx"));
  assert.equal(gap?.txid, 22n);
  assert.equal(gap?.complete, false);
  assert.equal(restorePlan(files, { upTo: 15n })?.txid, 15n, "a TXID bound: L0 files past the snapshot");
  assert.equal(restorePlan(files.filter((x) => x.level !== 9)), undefined, "no snapshot, no plan");
});

test("Litestream lines and formats: 0.3.x and 0.5.x are driven, others not; a binary of the other line than the store's replicas is refused unless the move is said", () => {
  assert.equal(familyOf("v0.3.13"), "0.3");
  assert.equal(familyOf("0.5.17"), "0.5");
  assert.equal(familyOf("v0.4.0"), undefined);
  assert.equal(familyOf("development build"), undefined);
  const store = (f: ReplicaFormat) =>
    new Map<string, ReplicaFormat>([
      ["a.db", f],
      ["b.db", "empty"],
    ]);
  assert.equal(formatProblem("0.3", store("0.3"), "auto"), undefined);
  assert.equal(formatProblem("0.5", store("0.5"), "auto"), undefined);
  assert.match(
    formatProblem("0.5", store("0.3"), "auto") ?? "",
    /0\.3 replicas \(generations\) of a\.db.*litestream\.format: "0\.5"/,
  );
  assert.equal(formatProblem("0.5", store("0.3"), "0.5"), undefined, "the move to 0.5, said on purpose");
  assert.match(formatProblem("0.3", store("0.5"), "auto") ?? "", /0\.5 replicas \(LTX\) of a\.db/);
  assert.match(
    formatProblem("0.3", store("empty"), "0.5") ?? "",
    /litestream\.format is 0\.5, but the binary is Litestream 0\.3/,
  );
});
