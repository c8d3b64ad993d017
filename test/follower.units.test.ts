import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { holdFor, nextAttempt } from "../src/follower/hold";
import { encodeJournal, readJournal, restoreOriginals, writeJournal } from "../src/follower/journal";
import { standbyCounter } from "../src/follower/liveDatabase";
import { tempDir } from "./helpers/env";

test("standbyCounter: the follower's counters have their low 16 bits clear and always move; SQLite's +1 never looks like one", () => {
  for (const c of [0, 1, 65535, 65536, 123_456_789, 0xffff0000, 0xffffffff]) {
    const next = standbyCounter(c);
    assert.equal(next & 0xffff, 0, `${c} → ${next}`);
    assert.notEqual(next, c & 0xffff0000, `${c} moves on`);
    assert.notEqual((next + 1) & 0xffff, 0, "a foreign transaction after it is recognisable");
  }
  assert.equal(standbyCounter(0xffff0000), 0, "wraps");
});

test("journal: round trip; a torn journal yields only its whole records; no journal or a foreign header is undefined", async (t) => {
  const dir = tempDir(t, "journal");
  const pageSize = 1024;
  const page = (b: number) => Buffer.alloc(pageSize, b);
  const originals = new Map([
    [1, page(1)],
    [3, page(3)],
    [7, page(7)],
  ]);
  const jpath = join(dir, "db-journal");
  await writeJournal(jpath, { originals, oldPages: 7, pageSize });
  const back = await readJournal(jpath);
  assert.equal(back?.oldPages, 7);
  assert.equal(back?.pageSize, pageSize);
  assert.deepEqual([...(back?.originals.keys() ?? [])], [1, 3, 7]);
  assert.ok(back?.originals.get(3)?.equals(page(3)));

  // Torn in the middle of the third record: the first two are whole and kept, the third is not.
  const whole = encodeJournal({ originals, oldPages: 7, pageSize });
  writeFileSync(jpath, whole.subarray(0, 512 + 2 * (pageSize + 8) + 100));
  assert.deepEqual([...((await readJournal(jpath))?.originals.keys() ?? [])], [1, 3]);
  // A flipped byte that SQLite's checksum samples (every 200th from the page's end) fails the first record:
  // it and every record after it are left out.
  const flipped = Buffer.from(whole);
  flipped[512 + 4 + pageSize - 200] ^= 0xff;
  writeFileSync(jpath, flipped);
  assert.equal((await readJournal(jpath))?.originals.size, 0);
  writeFileSync(jpath, Buffer.alloc(600));
  assert.equal(await readJournal(jpath), undefined);
  assert.equal(await readJournal(join(dir, "none-journal")), undefined);
});

test("restoreOriginals: a grown and half-written file goes back to its old pages and size, and the journal goes", async (t) => {
  const dir = tempDir(t, "restore-originals");
  const pageSize = 512;
  const db = join(dir, "db");
  const before = Buffer.concat([Buffer.alloc(pageSize, 1), Buffer.alloc(pageSize, 2), Buffer.alloc(pageSize, 3)]);
  writeFileSync(db, before);
  const originals = new Map([
    [2, Buffer.alloc(pageSize, 2)],
    [3, Buffer.alloc(pageSize, 3)],
  ]);
  const jpath = `${db}-journal`;
  await writeJournal(jpath, { originals, oldPages: 3, pageSize });
  // The failed apply: page 2 overwritten, two pages appended.
  const fh = await open(db, "r+");
  await fh.write(Buffer.alloc(pageSize, 9), 0, pageSize, pageSize);
  await fh.write(Buffer.alloc(2 * pageSize, 8), 0, 2 * pageSize, 3 * pageSize);
  await restoreOriginals(fh, { originals, oldPages: 3, pageSize }, jpath);
  await fh.close();
  assert.ok(readFileSync(db).equals(before));
  assert.ok(!existsSync(jpath));
});

test("holds: retries back off from the minimum, doubling, to the cap; the reason says what gets past a gap", () => {
  const h = holdFor("gap", "segment missing", "k", { generation: "0123456789abcdef", index: 10, offset: 4152 });
  const waits: number[] = [];
  for (let i = 0; i < 8; i++) {
    const before = Date.now();
    nextAttempt(h, 1000, 10_000);
    waits.push(Math.round((h.nextAt - before) / 1000));
  }
  assert.deepEqual(waits, [1, 2, 4, 8, 10, 10, 10, 10]);
  assert.equal(h.position, "0123456789abcdef/0000000a:4152");
  assert.match(h.needs, /a snapshot of generation 0123456789abcdef past WAL index 0000000a, or a new generation/);
});
