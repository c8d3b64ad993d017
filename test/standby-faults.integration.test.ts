import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { test } from "node:test";
import Database from "better-sqlite3";
import pino from "pino";
import { loadConfig } from "../src/config/load";
import type { UnderstudyConfig } from "../src/config/types";
import { LoadWriter } from "../src/demo/load";
import { Follower } from "../src/follower/follower";
import { HealthServer } from "../src/health/server";
import { Replicator } from "../src/replicate/replicator";
import { CountingStore } from "../src/store/countingStore";
import { FileStore } from "../src/store/fileStore";
import { KEY_ENV, useAzurite } from "./helpers/azurite";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import {
  assertCopiesEqual,
  caughtUpTo,
  followProcess,
  readFollowStateFile,
  standbyNode,
  waitFollowing,
} from "./helpers/standby";

const azurite = useAzurite();

function logSink(): { lines: string[]; log: pino.Logger } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, log: pino({ level: "info" }, sink) };
}

/** The store's WAL segment files of one database's generation, oldest first. */
function walFiles(dir: string, cfg: UnderstudyConfig, name: string, generation: string): string[] {
  const db = cfg.databases.find((d) => d.name === name);
  const walDir = join(dir, "store", "litestream", db?.replicaPath ?? "", "generations", generation, "wal");
  return readdirSync(walDir)
    .sort()
    .map((f) => join(walDir, f));
}

function segName(file: string): string {
  const m = /([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/.exec(file) as RegExpExecArray;
  return `${m[1]}:${parseInt(m[2], 16)}`;
}

async function httpStatus(url: string): Promise<number> {
  return (await fetch(url)).status;
}

test("standby: a segment lost from the store and a corrupt one are named once, held with backoff (no rebuild storm), status, readiness and verify fail; the primary forces a new generation past the gap", async (t) => {
  const dir = tempDir(t, "gaps");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { file } = await makeFleet(dir, entries);
  // Gap checks run when the test calls them, so the follower's handling of the gap can be watched first.
  writeFileSync(file, readFileSync(file, "utf8").replace("replicate:\n", "replicate:\n  gap-check-interval: 1h\n"));
  const cfg = loadConfig(file);
  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(cfg.nodes[0].dataDir, names, 10);
  const follower = (log: pino.Logger) =>
    new Follower(cfg, standbyNode(cfg), new CountingStore(new FileStore(join(dir, "store"))), {
      log,
      pollMs: 200,
      probeMs: 500,
      retryMinMs: 1000,
      retryMaxMs: 8000,
    });
  const f1 = follower(pino({ level: "silent" }));
  t.after(async () => {
    load.close();
    await r.stop();
  });
  await r.start();
  load.start();
  f1.start();
  await waitFor("following", () => f1.state.databases.every((d) => d.phase === "following" && d.segmentsApplied >= 2));
  await f1.stop();
  const at = Object.fromEntries(f1.state.databases.map((d) => [d.name, d.position as string]));
  await new Promise((res) => setTimeout(res, 3000));
  const [lost, corrupt] = names;
  const gen = (n: string) => at[n].split("/")[0];
  // The second segment the stopped follower still needs goes missing; the first stays, and must be applied.
  const lostFiles = walFiles(dir, cfg, lost, gen(lost)).filter((x) => isAfter(segName(x), at[lost].split("/")[1]));
  assert.ok(lostFiles.length >= 3, `${lost}: segments written while the follower was stopped`);
  unlinkSync(lostFiles[1]);
  const corruptFiles = walFiles(dir, cfg, corrupt, gen(corrupt)).filter((x) =>
    isAfter(segName(x), at[corrupt].split("/")[1]),
  );
  assert.ok(corruptFiles.length >= 3, `${corrupt}: segments written while the follower was stopped`);
  const good = readFileSync(corruptFiles[1]);
  const bad = Buffer.from(good);
  bad[Math.floor(bad.length / 2)] ^= 0xff;
  writeFileSync(corruptFiles[1], bad);

  const { lines, log } = logSink();
  const f = follower(log);
  f.start();
  t.after(() => f.stop());
  const st = (n: string) => f.state.databases.find((d) => d.name === n);
  await waitFor(
    "both copies held at their break",
    () => st(lost)?.phase === "stalled" && st(corrupt)?.phase === "stalled",
  );
  // Everything before the break was applied: each copy stands exactly at the bad segment.
  assert.equal(st(lost)?.position?.split("/")[1], segName(lostFiles[1]));
  assert.equal(st(corrupt)?.position?.split("/")[1], segName(corruptFiles[1]));
  assert.match(
    st(lost)?.lastError?.message ?? "",
    new RegExp(
      `WAL segment ${segName(lostFiles[1])} of generation ${gen(lost)} is missing from the store.*needs the missing segment back, a snapshot of generation ${gen(lost)} past WAL index`,
    ),
  );
  assert.match(
    st(corrupt)?.lastError?.message ?? "",
    /corrupt segment not applied: .*needs a good copy of that segment/,
  );

  // While held: a few GETs and listings per attempt, backing off — no rebuilds, no downloads to speak of.
  const c0 = { ...f.store.counts };
  const boots0 = f.state.databases.map((d) => d.bootstraps);
  await new Promise((res) => setTimeout(res, 10_000));
  const c1 = { ...f.store.counts };
  assert.deepEqual(
    f.state.databases.map((d) => d.bootstraps),
    boots0,
    "no rebuild is attempted while nothing gets past the break",
  );
  assert.ok(c1.list - c0.list <= 8, `listings while held: ${c1.list - c0.list}`);
  // The manifest is read every 200 ms (50 in 10 s); the held databases add at most a few retries each.
  assert.ok(c1.get - c0.get <= 50 + 16, `GETs while held: ${c1.get - c0.get}`);
  assert.ok(c1.bytesDown - c0.bytesDown < 200_000, `bytes downloaded while held: ${c1.bytesDown - c0.bytesDown}`);
  const named = (what: RegExp) => lines.filter((l) => what.test(l) && /"level":50/.test(l)).length;
  assert.equal(named(/is missing from the store/), 1, "the gap is named once");
  assert.equal(named(/corrupt segment not applied/), 1, "the corrupt segment is named once");
  assert.ok(Date.parse(st(lost)?.retryAt ?? "") > Date.now(), "the next try is scheduled ahead");

  // Status, readiness and verify all say so.
  f.flush();
  const status = await cli(["status", "--config", file, "--node", "standby"]);
  assert.equal(status.code, 1, status.stdout);
  assert.match(status.stdout, /problems:\n(.|\n)*mission-control\.db is stalled: WAL segment .* is missing/);
  const health = new HealthServer({ node: standbyNode(cfg), readyLagMs: 60_000 });
  const port = (await health.listen("127.0.0.1", 0)).port;
  t.after(() => health.close());
  assert.equal(await httpStatus(`http://127.0.0.1:${port}/readiness`), 503);
  assert.equal(await httpStatus(`http://127.0.0.1:${port}/standby?lag=60s`), 503);
  const verify = await cli(["verify", "--config", file]);
  assert.equal(verify.code, 1, verify.stdout);
  assert.match(verify.stdout, /mission-control\.db.*BROKEN: WAL segment missing at/);
  assert.match(verify.stdout, /tasks\.db.*BROKEN: corrupt WAL segment at/);
  const restore = await cli(["restore", lost, "--config", file, "-o", join(dir, "restored.db")]);
  assert.notEqual(restore.code, 0, "restore fails on the same gap verify reports");

  // The primary sees that the store lost a segment it uploaded and forces a new generation; the corrupt
  // segment is put right by hand. Both copies then get past their break and match the primary.
  await r.checkGaps();
  const repState = r.state.databases.find((d) => d.name === lost);
  assert.equal(repState?.forcedGenerations, 1);
  assert.match(repState?.lastError?.message ?? "", /the store lost 1 uploaded WAL segment\(s\)/);
  assert.equal(r.state.databases.find((d) => d.name === corrupt)?.forcedGenerations, undefined);
  writeFileSync(corruptFiles[1], good);
  await waitFor("a new generation for the lost segment's database", () => {
    const m = r.manifest().databases[cfg.databases.find((d) => d.name === lost)?.replicaPath ?? ""];
    return m && m.generation !== gen(lost);
  });
  await new Promise((res) => setTimeout(res, 1500));
  load.stop();
  await r.stop();
  await waitFor("both copies past their breaks and caught up", () => caughtUpTo(f.state, r, names), 120_000);
  assert.equal(st(lost)?.bootstraps, 1, "the lost segment's copy was rebuilt once, from the new generation");
  assert.notEqual(st(lost)?.generation, gen(lost));
  assert.equal(st(corrupt)?.bootstraps, 0, "the corrupt segment's copy resumed where it stood, without a rebuild");
  assertCopiesEqual(cfg, names);
  const verified = await cli(["verify", "--config", file]);
  assert.equal(verified.code, 0, verified.stdout);
});

function isAfter(seg: string, pos: string): boolean {
  const [i, o] = seg.split(":");
  const [pi, po] = pos.split(":");
  const a = parseInt(i, 16);
  const b = parseInt(pi, 16);
  return a > b || (a === b && Number(o) >= Number(po));
}

test("standby: a full disk never corrupts a copy; the follower says it has no room, keeps the last good state, and catches up once there is room", async (t) => {
  const dir = tempDir(t, "full-disk");
  // The standby's data dir on its own small filesystem.
  const mount = mkdtempSync(join(tmpdir(), "understudy-tmpfs-"));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", mount]);
  let follower: ReturnType<typeof followProcess> | undefined;
  t.after(async () => {
    if (follower && follower.child.exitCode === null) {
      follower.child.kill("SIGKILL");
      await follower.exited;
    }
    execFileSync("umount", [mount]);
    rmSync(mount, { recursive: true, force: true });
  });
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { cfg, file } = await makeFleet(dir, entries, { standbyDir: mount });
  const { r, load } = await startPrimary(t, cfg, names, 20);
  follower = followProcess(t, file);
  await waitFollowing(cfg, names, 2);
  // Fill the filesystem but for a few pages.
  const ballast = join(mount, "ballast");
  const fs = statfsSync(mount);
  writeFileSync(ballast, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 24 * 1024)));
  await waitFor("the follower to report the full disk", () =>
    readFollowStateFile(cfg)?.databases.some(
      (d) => d.phase === "stalled" && /no space left on the filesystem/.test(d.lastError?.message ?? ""),
    ),
  );
  await new Promise((res) => setTimeout(res, 3000));
  // While full: every copy is whole and readable, and status says what is wrong.
  for (const n of names) {
    const db = new Database(join(mount, n), { readonly: true, timeout: 5000 });
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok", `${n} while the disk is full`);
    db.close();
  }
  const status = await cli(["status", "--config", file, "--node", "standby"]);
  assert.equal(status.code, 1);
  assert.match(status.stdout, /no space left on the filesystem/);
  assert.ok(follower.child.exitCode === null, "the follower keeps running");

  rmSync(ballast);
  load.stop();
  await r.stop();
  await waitFor("catch up once there is room", () => caughtUpTo(readFollowStateFile(cfg), r, names), 120_000);
  follower.child.kill("SIGTERM");
  assert.equal(await follower.exited, 0, follower.stderr());
  assertCopiesEqual(cfg, names);
  assert.ok(!readdirSync(mount).some((x) => x.endsWith("-journal")), "no journal left");
});

test("standby: with the store hanging, lag grows, status and readiness fail and verify times out; a silent follower is 'not reporting'", async (t) => {
  const dir = tempDir(t, "store-hangs");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  await azurite.container("hang");
  const { cfg, file } = await makeFleet(dir, entries, {
    store: { type: "abs", endpoint: azurite.server.endpoint, container: "hang", keyEnv: KEY_ENV },
  });
  const { r, load } = await startPrimary(t, cfg, names, 5);
  const f = followProcess(t, file);
  await waitFollowing(cfg, names, 2);
  const health = new HealthServer({ node: standbyNode(cfg), readyLagMs: 10_000 });
  const port = (await health.listen("127.0.0.1", 0)).port;
  t.after(() => health.close());
  assert.equal(await httpStatus(`http://127.0.0.1:${port}/readiness`), 200);

  const pid = azurite.server.pid as number;
  process.kill(pid, "SIGSTOP");
  t.after(() => {
    process.kill(pid, "SIGCONT");
  });
  await waitFor("the follower to say it cannot read the store", () => readFollowStateFile(cfg)?.storeError, 60_000);
  const s = readFollowStateFile(cfg);
  assert.ok(Date.now() - Date.parse(s?.updatedAt ?? "") < 5000, "the state file is still being written");
  assert.ok(
    s?.databases.every((d) => (d.lagMs ?? 0) >= 10_000),
    `lag grows while nothing confirms the copies are current: ${s?.databases.map((d) => d.lagMs)}`,
  );
  const status = await cli(["status", "--config", file, "--node", "standby"]);
  assert.equal(status.code, 1, status.stdout);
  assert.match(status.stdout, /cannot read the store: reading the positions manifest: no answer from the store/);
  assert.equal(await httpStatus(`http://127.0.0.1:${port}/readiness`), 503);
  const verify = await cli(["verify", "--config", file, "--timeout", "3s"]);
  assert.equal(verify.code, 1);
  assert.match(verify.stdout, /timed out after 3s/);
  process.kill(pid, "SIGCONT");
  await waitFor("recovery once the store answers", () => {
    const x = readFollowStateFile(cfg);
    return x && !x.storeError && x.databases.every((d) => d.lagMs === 0);
  });

  // A follower that stops writing its state (hung) is not reporting, whatever its pid says.
  process.kill(f.pid, "SIGSTOP");
  await new Promise((res) => setTimeout(res, 11_000));
  const silent = await cli(["status", "--config", file, "--node", "standby"]);
  process.kill(f.pid, "SIGCONT");
  assert.equal(silent.code, 1);
  assert.match(silent.stdout, /is not reporting: its state is 1\ds old/);
  load.stop();
  await r.stop();
  f.child.kill("SIGTERM");
  assert.equal(await f.exited, 0, f.stderr());
  assert.ok(existsSync(join(standbyNode(cfg).dataDir, names[0])));
});
