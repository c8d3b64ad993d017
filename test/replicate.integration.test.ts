import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createDatabase } from "../src/demo/fleet";
import { restoreAndCompare } from "../src/demo/restoreCheck";
import { litestreamBinary } from "../src/litestream/binary";
import type { Replicator } from "../src/replicate/replicator";
import { readReplicateState } from "../src/replicate/state";
import { verifyStore } from "../src/replicate/verify";
import { FileStore } from "../src/store/fileStore";
import { BIN, cli, tempDir, waitFor } from "./helpers/env";
import { type Entry, makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";

const LATE: Entry = { name: "late.db", tier: "P1", size: 10_000, writeFrequency: "low" };

async function restoreAll(r: Replicator, names: string[], outDir: string) {
  const binary = litestreamBinary({});
  const out = [];
  for (const name of names)
    out.push(
      await restoreAndCompare({ binary, litestreamConfig: r.configPath, dataDir: r.node.dataDir, name, outDir }),
    );
  return out;
}

test("replicate: a fleet under writes reaches the store, state tracks positions, restores equal the primary", async (t) => {
  const dir = tempDir(t, "replicate");
  const { cfg, file, dataDir } = await makeFleet(dir, [...SMALL_FLEET, LATE]);
  rmSync(join(dataDir, LATE.name));
  const names = SMALL_FLEET.map((e) => e.name);
  const { r, load } = await startPrimary(t, cfg, names, 5);

  const dbState = (n: string) => r.state.databases.find((d) => d.name === n)!;
  await waitFor("every present database's first snapshot", () => names.every((n) => dbState(n).lastSnapshotAt));
  await waitFor("WAL uploads from the load", () => names.every((n) => dbState(n).uploads >= 2));
  assert.equal(dbState(LATE.name).present, false, "a configured database missing on disk is reported");
  assert.equal(r.state.litestream.status, "running", "and Litestream keeps running");

  createDatabase(join(dataDir, LATE.name), LATE.size);
  await waitFor(
    "the late database to be noticed and snapshotted",
    () => dbState(LATE.name).present && dbState(LATE.name).lastSnapshotAt,
  );

  const metrics = await (await fetch(`http://${r.metricsAddress()}/metrics`)).text();
  assert.match(metrics, /understudy_db_uploads_total\{db="mission-control.db",tier="P0-critical"\} [1-9]/);
  assert.match(metrics, /understudy_litestream_up 1/);
  assert.match(
    metrics,
    /litestream_replica_wal_index\{db=".*mission-control.db"/,
    "Litestream's own metrics are passed through",
  );

  load.stop();
  const lastWrite = new Map(load.lastWriteAt);
  // Lag: once writes stop, every database's newest upload catches up with its last write.
  await waitFor("uploads to catch up with the last writes", () =>
    names.every((n) => Date.parse(dbState(n).lastUploadAt ?? "0") >= (lastWrite.get(n) ?? 0) - 1000),
  );
  const status = JSON.parse((await cli(["status", "--json", "--config", file])).stdout);
  assert.equal(status.running, true);
  assert.equal(status.databases.length, 6);

  // Stopped, Litestream has made its final sync and every log line is folded into the state.
  await r.stop();
  const onDisk = readReplicateState(cfg.nodes[0].stateDir);
  assert.equal(onDisk?.litestream.status, "stopped");
  // The state's positions agree with what is in the store: the newest segment ends where the state says.
  const report = await verifyStore(cfg, new FileStore(join(dir, "store")), cfg.nodes[0]);
  for (const n of names) {
    const row = report.rows.find((x) => x.name === n)!;
    const s = dbState(n);
    assert.equal(row.generation, s.generation, n);
    const [idx, end] = (s.position ?? "").split("/")[1].split(":");
    assert.equal(row.newestWal?.split(":")[0], idx, n);
    assert.ok(
      Number(end) > Number(row.newestWal?.split(":")[1]),
      `${n}: state position is past the newest segment's start`,
    );
  }
  assert.equal(report.failures.length, 0, JSON.stringify(report.failures));

  for (const c of await restoreAll(r, [...names, LATE.name], dir)) {
    assert.equal(c.integrity, "ok", c.name);
    assert.equal(c.restoredHash, c.primaryHash, `${c.name}: restored rows equal the primary's`);
    assert.ok(c.rows > 0);
  }
});

test("replicate: kill -9 of Litestream mid-writes is restarted with backoff and the replica has no gap", async (t) => {
  const dir = tempDir(t, "kill");
  const { cfg, file } = await makeFleet(dir);
  const names = SMALL_FLEET.map((e) => e.name);
  const { r, load } = await startPrimary(t, cfg, names, 5);
  const dbState = (n: string) => r.state.databases.find((d) => d.name === n)!;
  await waitFor("first snapshots", () => names.every((n) => dbState(n).lastSnapshotAt));

  for (let kill = 1; kill <= 2; kill++) {
    const pid = r.litestreamPid();
    assert.ok(pid);
    process.kill(pid, "SIGKILL");
    await waitFor(
      `restart ${kill}`,
      () =>
        r.state.litestream.status === "running" && r.litestreamPid() !== pid && r.state.litestream.restarts === kill,
    );
    const uploadsBefore = names.map((n) => dbState(n).uploads);
    await waitFor("uploads after the restart", () => names.every((n, i) => dbState(n).uploads > uploadsBefore[i]));
  }
  assert.equal(r.state.litestream.lastExit?.signal, "SIGKILL");
  const status = await cli(["status", "--config", file]);
  assert.match(status.stdout, /litestream v0\.3\.13 running \(pid \d+\), 2 restarts/);

  load.stop();
  await r.stop();
  for (const c of await restoreAll(r, names, dir)) {
    assert.equal(c.integrity, "ok", c.name);
    assert.equal(c.restoredHash, c.primaryHash, `${c.name}: every row written across two kills is in the replica`);
  }
});

test("understudy replicate (the CLI) logs JSON, passes SIGTERM through to Litestream and exits 0", async (t) => {
  const dir = tempDir(t, "sigterm");
  const { cfg, file } = await makeFleet(dir);
  const child = spawn(process.execPath, [BIN, "replicate", "--config", file], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  t.after(() => child.kill("SIGKILL"));
  const state = await waitFor("replicate to start Litestream", () => {
    const s = readReplicateState(cfg.nodes[0].stateDir);
    return s?.litestream.status === "running" && s.databases.every((d) => d.lastSnapshotAt) ? s : undefined;
  });
  const lsPid = state.litestream.pid!;
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
  assert.throws(() => process.kill(lsPid, 0), /ESRCH/, "Litestream is gone too");
  assert.equal(readReplicateState(cfg.nodes[0].stateDir)?.litestream.status, "stopped");
  const lines = stderr
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => l.msg === "litestream started" && l.pid === lsPid));
  assert.ok(lines.some((l) => l.msg === "stopping: passing SIGTERM to litestream"));
});
