import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import pino from "pino";
import type { UnderstudyConfig } from "../src/config/types";
import { LoadWriter } from "../src/demo/load";
import { digestDatabase } from "../src/fleet/rowHash";
import { Follower } from "../src/follower/follower";
import { litestreamBinary } from "../src/litestream/binary";
import { Replicator } from "../src/replicate/replicator";
import { CountingStore } from "../src/store/countingStore";
import { FileStore } from "../src/store/fileStore";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import { assertCopiesEqual, caughtUpTo, standbyNode } from "./helpers/standby";

const FOLLOWED = SMALL_FLEET.filter((e) => e.tier !== "P2").map((e) => e.name);

function follower(cfg: UnderstudyConfig, dir: string) {
  return new Follower(cfg, standbyNode(cfg), new CountingStore(new FileStore(join(dir, "store"))), {
    log: pino({ level: "silent" }),
    pollMs: 200,
    probeMs: 500,
  });
}

test("follow: the standby keeps copies equal to the primary and to litestream restore, readers always consistent", async (t) => {
  const dir = tempDir(t, "follow");
  const { cfg, file, dataDir } = await makeFleet(dir);
  const { r, load } = await startPrimary(
    t,
    cfg,
    SMALL_FLEET.map((e) => e.name),
  );
  const f = follower(cfg, dir);
  let readerErrors = 0;
  let readerChecks = 0;
  let reading = true;
  t.after(async () => {
    reading = false;
    await f.stop();
  });
  f.start();
  const standbyMc = join(standbyNode(cfg).dataDir, "mission-control.db");
  await waitFor("the standby's first copy", () => existsSync(standbyMc));
  // A reader that opens the standby's database again and again while the follower applies.
  const reader = (async () => {
    while (reading) {
      try {
        const db = new Database(standbyMc, { readonly: true, timeout: 10_000 });
        const ok = db.pragma("integrity_check", { simple: true });
        db.prepare("SELECT count(*) FROM items").get();
        db.close();
        if (ok !== "ok") readerErrors++;
        readerChecks++;
      } catch (e) {
        if (!/SQLITE_BUSY|database is locked/.test(String(e))) readerErrors++;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  await waitFor("several rounds of applied segments", () =>
    f.state.databases.every((d) => d.segmentsApplied >= 3 && d.phase === "following"),
  );
  assert.equal(f.state.mode, "manifest", "the primary publishes positions, so the follower lists nothing");
  const listsBefore = f.store.counts.list;
  load.stop();
  // Stopping Litestream makes it upload what is left, and the replicator publishes its final positions.
  await r.stop();
  await waitFor("the standby to catch up", () => caughtUpTo(f.state, r, FOLLOWED)).catch((e) => {
    // What the follower had against what the primary last had: the first thing to look at when this times out.
    console.error(JSON.stringify({ manifest: r.manifest(), state: f.state.databases, busy: f.state.busy }, null, 1));
    throw e;
  });
  reading = false;
  await reader;
  assert.ok(readerChecks > 10, `reader ran ${readerChecks} checks`);
  assert.equal(readerErrors, 0, "no reader ever saw an inconsistent database");
  assert.equal(f.store.counts.list, listsBefore, "steady state needs no listings");
  assertCopiesEqual(cfg, FOLLOWED);
  assert.ok(!existsSync(join(standbyNode(cfg).dataDir, "vcr.db")), "P2 does not follow");

  // The same content as the real `litestream restore` of the same replica.
  for (const n of FOLLOWED) {
    const out = join(dir, `${n}.ls-restore`);
    execFileSync(litestreamBinary({}), ["restore", "-config", r.configPath, "-o", out, join(dataDir, n)]);
    assert.equal(digestDatabase(out).hash, digestDatabase(join(standbyNode(cfg).dataDir, n)).hash, n);
  }
  f.flush();
  const status = await cli(["status", "--config", file]);
  assert.match(status.stdout, /follows .* positions published by the primary/);
  assert.match(status.stdout, /mission-control\.db\s+P0-critical\s+following/);
});

test("follow: kill -9 at random moments never leaves a database failing integrity_check; restarts resume", async (t) => {
  const dir = tempDir(t, "follow-kill");
  const { cfg } = await makeFleet(dir);
  const { r, load } = await startPrimary(
    t,
    cfg,
    SMALL_FLEET.map((e) => e.name),
    8,
  );
  await waitFor("first snapshots", () => r.state.databases.every((d) => d.lastSnapshotAt));
  const { spawn } = await import("node:child_process");
  const { BIN } = await import("./helpers/env");
  const file = join(dir, "understudy.yml");
  const standby = standbyNode(cfg).dataDir;
  // A database that had a position (a finished copy) before a restart must never be bootstrapped again.
  const resumedButRebuilt: string[] = [];
  const positioned = () =>
    new Set(FOLLOWED.filter((n) => existsSync(join(standbyNode(cfg).stateDir, "follow", `${n}.position.json`))));
  for (let i = 0; i < 12; i++) {
    const before = positioned();
    const stateFile = join(standbyNode(cfg).stateDir, "follow-state.json");
    rmSync(stateFile, { force: true });
    const child = spawn(process.execPath, [BIN, "follow", "--config", file, "--metrics-listen", ""], {
      stdio: "ignore",
    });
    await new Promise((res) => setTimeout(res, 300 + Math.random() * 1500));
    child.kill("SIGKILL");
    await new Promise((res) => child.once("exit", res));
    for (const n of FOLLOWED) {
      const p = join(standby, n);
      if (!existsSync(p)) continue;
      // Opening read-write lets SQLite roll back a journal the kill left behind, as the restarted follower would.
      const db = new Database(p, { timeout: 10_000 });
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `${n} after kill ${i}`);
      db.close();
    }
    if (existsSync(stateFile)) {
      const s = JSON.parse(readFileSync(stateFile, "utf8"));
      for (const d of s.databases as { name: string; bootstraps: number }[])
        if (d.bootstraps > 0 && before.has(d.name)) resumedButRebuilt.push(`${d.name} (run ${i})`);
    }
  }
  load.stop();
  await r.stop();
  const f = follower(cfg, dir);
  f.start();
  t.after(() => f.stop());
  await waitFor("catch up after the kills", () => caughtUpTo(f.state, r, FOLLOWED));
  assertCopiesEqual(cfg, FOLLOWED);
  assert.deepEqual(resumedButRebuilt, [], "restarts resumed from their positions without a new full download");
  assert.ok(!readdirSync(standby).some((x) => x.endsWith("-journal")));
});

test("follow: a new generation, a corrupt segment and segments lost to retention are each detected and handled", async (t) => {
  const dir = tempDir(t, "follow-events");
  const { cfg, dataDir } = await makeFleet(dir, SMALL_FLEET.slice(0, 2));
  const names = SMALL_FLEET.slice(0, 2).map((e) => e.name);
  let r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(dataDir, names, 5);
  const f = follower(cfg, dir);
  t.after(async () => {
    load.close();
    await f.stop();
    await r.stop();
  });
  await r.start();
  load.start();
  f.start();
  await waitFor("following", () => f.state.databases.every((d) => d.phase === "following" && d.segmentsApplied > 2));

  // 1. New generation: Litestream stopped, the database checkpointed with TRUNCATE outside it, Litestream restarted.
  load.stop();
  await r.stop();
  const oldGen = f.state.databases[0].generation;
  for (const n of names) {
    const db = new Database(join(dataDir, n));
    db.prepare("INSERT INTO items (created_at, kind, payload) VALUES (?, 'gap', ?)").run(
      new Date().toISOString(),
      Buffer.alloc(100),
    );
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
  }
  r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  await r.start();
  load.start();
  await waitFor("a new generation followed", () =>
    f.state.databases.every((d) => d.generation !== oldGen && d.bootstraps >= 2),
  );
  assert.match(f.state.databases[0].lastEvent?.message ?? "", /generation|bootstrapped/);

  // 2. A corrupt segment in the store is never applied; the copy keeps its last good state.
  load.stop();
  await waitFor("caught up", () => caughtUpTo(f.state, r, names));
  await f.stop();
  const before = digestDatabase(join(standbyNode(cfg).dataDir, names[0]));
  load.start();
  await new Promise((res) => setTimeout(res, 2500));
  load.stop();
  await waitFor("uploads of the last writes", () =>
    r.state.databases.every((d) => Date.parse(d.lastUploadAt ?? "0") > Date.now() - 5000),
  );
  const db0 = cfg.databases.find((d) => d.name === names[0])!;
  const gen = r.manifest().databases[db0.replicaPath].generation;
  const walDir = join(dir, "store", "litestream", db0.replicaPath, "generations", gen, "wal");
  const pos = JSON.parse(readFileSync(join(standbyNode(cfg).stateDir, "follow", `${names[0]}.position.json`), "utf8"));
  const nextSeg = join(
    walDir,
    `${pos.index.toString(16).padStart(8, "0")}_${pos.offset.toString(16).padStart(8, "0")}.wal.lz4`,
  );
  assert.ok(existsSync(nextSeg), "the next segment is in the store");
  const good = readFileSync(nextSeg);
  const bad = Buffer.from(good);
  bad[Math.floor(bad.length / 2)] ^= 0xff;
  writeFileSync(nextSeg, bad);
  const f2 = follower(cfg, dir);
  f2.start();
  await waitFor("the corruption to be reported", () => f2.state.databases[0].phase === "stalled");
  assert.match(f2.state.databases[0].lastError?.message ?? "", /corrupt segment not applied/);
  const during = digestDatabase(join(standbyNode(cfg).dataDir, names[0]));
  assert.equal(during.integrity, "ok");
  assert.equal(during.hash, before.hash, "nothing of the corrupt segment was applied");
  writeFileSync(nextSeg, good);
  await r.stop();
  await waitFor("recovery once the segment is good again", () => caughtUpTo(f2.state, r, names));
  await f2.stop();
  assertCopiesEqual(cfg, names);
});

test("follow: segments lost to Litestream's retention while the follower was stopped lead to a rebuild, not a stall", async (t) => {
  const dir = tempDir(t, "follow-retention");
  const entries = SMALL_FLEET.slice(0, 1);
  const { file } = await makeFleet(dir, entries);
  // A tier whose WAL index rolls over quickly and whose old WAL retention removes within seconds.
  const yaml = readFileSync(file, "utf8").replace(
    /P0-critical: .*/,
    "P0-critical: { retention: 3s, sync-interval: 200ms, snapshot-interval: 1s, retention-check-interval: 1s, checkpoint-interval: 1s, min-checkpoint-page-count: 2, follow: true }",
  );
  writeFileSync(file, yaml);
  const { loadConfig } = await import("../src/config/load");
  const cfg = loadConfig(file);
  const dataDir = cfg.nodes[0].dataDir;
  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(dataDir, [entries[0].name], 20, 2048);
  t.after(async () => {
    load.close();
    await r.stop();
  });
  await r.start();
  load.start();
  const f = follower(cfg, dir);
  f.start();
  await waitFor(
    "following",
    () => f.state.databases[0].phase === "following" && f.state.databases[0].segmentsApplied > 0,
  );
  await f.stop();
  const stoppedAt = JSON.parse(
    readFileSync(join(standbyNode(cfg).stateDir, "follow", `${entries[0].name}.position.json`), "utf8"),
  );
  const walDir = join(dir, "store", "litestream", "mission-control", "generations", stoppedAt.generation, "wal");
  const ourIndex = `${stoppedAt.index.toString(16).padStart(8, "0")}_`;
  await waitFor(
    "retention to remove the WAL index the stopped follower was in",
    () => {
      const left = existsSync(walDir) ? readdirSync(walDir) : [];
      return left.length > 0 && !left.some((x) => x.startsWith(ourIndex));
    },
    120_000,
    500,
  );
  load.stop();
  await r.stop();
  const f2 = follower(cfg, dir);
  f2.start();
  t.after(() => f2.stop());
  await waitFor("a rebuild past the lost segments", () => caughtUpTo(f2.state, r, [entries[0].name]));
  assert.ok(f2.state.databases[0].bootstraps >= 1);
  assert.match(f2.state.databases[0].lastEvent?.message ?? "", /bootstrapped/);
  assertCopiesEqual(cfg, [entries[0].name]);
});

test("follow: a manifest the primary stopped publishing is not trusted; the follower probes and catches up", async (t) => {
  const dir = tempDir(t, "follow-stale");
  const entries = SMALL_FLEET.slice(0, 2);
  const { cfg, dataDir } = await makeFleet(dir, entries);
  const names = entries.map((e) => e.name);
  let r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(dataDir, names, 5);
  t.after(async () => {
    load.close();
    await r.stop();
  });
  await r.start();
  load.start();
  await waitFor("uploads", () => r.state.databases.every((d) => d.uploads >= 2));
  await r.stop();
  // A first follower reaches the position the manifest names.
  const f0 = follower(cfg, dir);
  f0.start();
  await waitFor("the first follower at the manifest's position", () => caughtUpTo(f0.state, r, names));
  await f0.stop();
  // From here on Litestream runs without publishing positions: the manifest in the store goes stale.
  r = new Replicator({ ...cfg, replicate: { ...cfg.replicate, publishInterval: 0 } }, cfg.nodes[0], {
    log: pino({ level: "silent" }),
    tickMs: 200,
  });
  await r.start();
  await new Promise((res) => setTimeout(res, 2500));
  load.stop();
  await r.stop();
  const f = new Follower(cfg, standbyNode(cfg), new CountingStore(new FileStore(join(dir, "store"))), {
    log: pino({ level: "silent" }),
    pollMs: 200,
    probeMs: 300,
    staleManifestMs: 1000,
  });
  f.start();
  t.after(() => f.stop());
  await waitFor("the follower to probe past the stale manifest and match the primary", () => {
    if (f.state.mode !== "probe" || f.state.staleManifestAgeMs === undefined) return false;
    return names.every((n) => {
      const p = join(standbyNode(cfg).dataDir, n);
      return existsSync(p) && digestDatabase(p).hash === digestDatabase(join(dataDir, n)).hash;
    });
  });
  assertCopiesEqual(cfg, names);
});
