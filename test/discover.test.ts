import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createDatabase } from "../src/demo/fleet";
import { discover } from "../src/fleet/discover";
import { loadInventory } from "../src/fleet/inventory";
import { DirLock } from "../src/util/dirLock";
import { cli, EXAMPLES, tempDir } from "./helpers/env";

function planFleet(dir: string): string {
  const data = join(dir, "databases");
  mkdirSync(data, { recursive: true });
  for (const e of loadInventory(join(EXAMPLES, "fleet-inventory.tsv"))) createDatabase(join(data, e.name), 8192);
  return data;
}

test("discover, run against the plan's fleet with the plan's own Litestream config imported, finds the gap", async (t) => {
  const dir = tempDir(t, "discover");
  const data = planFleet(dir);
  // The plan's config with its data dir moved to where this test's fleet lives.
  const planYml = join(dir, "litestream.yml");
  const { readFileSync } = await import("node:fs");
  writeFileSync(
    planYml,
    readFileSync(join(EXAMPLES, "plan-litestream.yml"), "utf8").replaceAll("/Users/makinja/system/databases", data),
  );
  const cfgFile = join(dir, "understudy.yml");
  assert.equal((await cli(["import", planYml, "-o", cfgFile])).code, 0);

  const r = await cli(["discover", data, "--config", cfgFile]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /rag-cache\.db\s+\S+ \S+\s+wal\s+\S+\s+UNREPLICATED/);
  assert.match(r.stdout, /69 SQLite databases .*: 68 covered, 1 UNREPLICATED/);

  const j = JSON.parse((await cli(["discover", data, "--config", cfgFile, "--json"])).stdout);
  assert.deepEqual(j.unreplicated, ["rag-cache.db"]);
  assert.equal(j.found.find((f: { name: string }) => f.name === "mission-control.db").tier, "P0-critical");
});

test("discover recognises databases by header, not by name, and honours exclude", async (t) => {
  const dir = tempDir(t, "discover2");
  const data = join(dir, "data");
  mkdirSync(data);
  createDatabase(join(data, "app.db"), 8192);
  createDatabase(join(data, "odd-name.bin"), 8192);
  writeFileSync(join(data, "fake.db"), "this is not sqlite at all, just text padded out to a hundred bytes ".repeat(3));
  writeFileSync(join(data, "empty.db"), "");
  copyFileSync(join(data, "app.db"), join(data, "scratch.sqlite"));
  // understudy's own files on a standby: the follower's lock (a small SQLite file) and a copy built aside.
  const lock = DirLock.acquire(data, "follow");
  t.after(() => lock.release());
  copyFileSync(join(data, "app.db"), join(data, ".app.db.understudy-bootstrap"));
  const cfg = join(dir, "understudy.yml");
  writeFileSync(
    cfg,
    `nodes: { p: { role: primary, data-dir: ./data } }\nstore: { type: file, path: ./store }\ndatabases:\n  - { name: app.db, tier: P1 }\n  - { name: gone.db, tier: P1 }\nexclude: [scratch.sqlite]\n`,
  );
  const { parseConfig } = await import("../src/config/load");
  const { readFileSync } = await import("node:fs");
  const rep = discover(data, parseConfig(readFileSync(cfg, "utf8"), cfg));
  const by = new Map(rep.found.map((f) => [f.name, f]));
  assert.deepEqual([...by.keys()].sort(), ["app.db", "odd-name.bin", "scratch.sqlite"]);
  assert.equal(by.get("app.db")?.status, "replicated");
  assert.equal(by.get("app.db")?.journalMode, "wal");
  assert.equal(by.get("scratch.sqlite")?.status, "excluded");
  assert.equal(by.get("odd-name.bin")?.status, "unreplicated");
  assert.deepEqual(rep.notSqlite.sort(), ["empty.db", "fake.db"]);
  assert.deepEqual(rep.missing, ["gone.db"]);

  writeFileSync(
    cfg,
    `nodes: { p: { role: primary, data-dir: ./data } }\nstore: { type: file, path: ./store }\ndatabases:\n  - { name: app.db, tier: P1 }\n  - { name: odd-name.bin, tier: P2 }\nexclude: [scratch.sqlite]\n`,
  );
  const ok = await cli(["discover", data, "--config", cfg]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /3 covered, 0 UNREPLICATED/);
});
