import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { test } from "node:test";
import pino from "pino";
import { AZURITE_KEY } from "../src/demo/azurite";
import { LoadWriter } from "../src/demo/load";
import { restoreAndCompare } from "../src/demo/restoreCheck";
import { litestreamBinary } from "../src/litestream/binary";
import { Replicator } from "../src/replicate/replicator";
import { stateFile } from "../src/replicate/state";
import { verifyStore } from "../src/replicate/verify";
import { ABS_KEY_ENV } from "../src/store/absBackend";
import { openStore } from "../src/store/open";
import { KEY_ENV, useAzurite } from "./helpers/azurite";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET } from "./helpers/fleet";

const { server: azurite, container } = useAzurite();

test("the abs store puts, lists, gets and deletes against a real Azurite", async () => {
  const s = await container("roundtrip");
  await s.put("a/b/one.bin", Buffer.from("one"));
  await s.put("a/b/two.bin", Buffer.from("two"));
  await s.put("a/c.bin", Buffer.from("three"));
  const keys: string[] = [];
  for await (const o of s.list("a/b/")) keys.push(o.key);
  assert.deepEqual(keys, ["a/b/one.bin", "a/b/two.bin"]);
  assert.equal((await s.get("a/b/two.bin")).toString(), "two");
  await s.delete("a/b/one.bin");
  const left: string[] = [];
  for await (const o of s.list("a/")) left.push(o.key);
  assert.deepEqual(left, ["a/b/two.bin", "a/c.bin"]);
});

test("replicate to Azure Blob semantics (Azurite): verify reads it back, restores equal the primary, the key stays secret", async (t) => {
  const dir = tempDir(t, "abs");
  await container("system-db-backups");
  const { cfg, dataDir } = await makeFleet(dir, SMALL_FLEET, {
    store: { type: "abs", endpoint: azurite.endpoint, container: "system-db-backups", keyEnv: KEY_ENV },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "debug" }, sink), tickMs: 200 });
  const names = SMALL_FLEET.map((e) => e.name);
  const load = new LoadWriter(dataDir, names, 4);
  t.after(async () => {
    load.close();
    await r.stop();
  });
  await r.start();
  load.start();
  const dbState = (n: string) => r.state.databases.find((d) => d.name === n)!;
  await waitFor("snapshots and uploads in Azurite", () =>
    names.every((n) => dbState(n).lastSnapshotAt && dbState(n).uploads >= 2),
  );
  load.stop();
  await r.stop();

  const store = await openStore(cfg.store);
  const report = await verifyStore(cfg, store, cfg.nodes[0]);
  for (const row of report.rows) {
    assert.equal(row.status, "ok", `${row.name}: ${row.detail}`);
    assert.equal(row.generation, dbState(row.name).generation);
    assert.ok(row.snapshots >= 1 && row.walSegments >= 1, row.name);
    assert.ok(row.prefix.startsWith("litestream/"));
  }

  const binary = litestreamBinary({});
  for (const name of names) {
    const c = await restoreAndCompare({
      binary,
      litestreamConfig: r.configPath,
      dataDir,
      name,
      outDir: dir,
      env: { ...process.env, [ABS_KEY_ENV]: AZURITE_KEY },
    });
    assert.equal(c.integrity, "ok");
    assert.equal(c.restoredHash, c.primaryHash, name);
  }

  for (const [what, text] of [
    ["rendered Litestream config", readFileSync(r.configPath, "utf8")],
    ["state file", readFileSync(stateFile(cfg.nodes[0].stateDir), "utf8")],
    ["logs", logs.join("")],
  ]) {
    assert.ok(text.length > 0, what);
    assert.ok(!text.includes(AZURITE_KEY), `the account key must not appear in the ${what}`);
  }
});

test("verify fails on a P0 database with no snapshot in the store, and only warns for P2", async (t) => {
  const dir = tempDir(t, "verify");
  const s = await container("verify-gaps");
  const { cfg, file } = await makeFleet(dir, SMALL_FLEET, {
    store: { type: "abs", endpoint: azurite.endpoint, container: "verify-gaps", keyEnv: KEY_ENV },
    create: false,
  });
  // Only WAL, no snapshot, for a P0 database; nothing at all for the others.
  await s.put("litestream/tasks/generations/0123456789abcdef/wal/00000000_00000000.wal.lz4", Buffer.from("x"));
  const report = await verifyStore(cfg, s);
  const tasks = report.rows.find((r) => r.name === "tasks.db")!;
  assert.equal(tasks.status, "no-snapshot");
  assert.equal(report.rows.find((r) => r.name === "vcr.db")!.status, "no-replica");
  assert.ok(report.failures.some((f) => f.name === "tasks.db"));
  assert.ok(!report.failures.some((f) => f.name === "vcr.db"), "P2 is not critical");
  const out = await cli(["verify", "--config", file]);
  assert.equal(out.code, 1);
  assert.match(out.stdout, /tasks\.db\s+P0-critical.*NO-SNAPSHOT/);
  assert.match(out.stdout, /vcr\.db\s+P2.*NO-REPLICA \(warn\)/);
});

test("validate --online: the right key passes, a wrong key fails with one clear line", async (t) => {
  const dir = tempDir(t, "online");
  await container("probe");
  const { file } = await makeFleet(dir, SMALL_FLEET, {
    store: { type: "abs", endpoint: azurite.endpoint, container: "probe", keyEnv: KEY_ENV },
  });
  const good = await cli(["validate", "--online", "--config", file]);
  assert.match(good.stdout, /PASS\s+store-online\s+abs:\/\/probe@devstoreaccount1/);
  assert.equal(good.code, 0, good.stdout);
  const wrong = Buffer.from("not-the-key-not-the-key-not-the-key").toString("base64");
  const bad = await cli(["validate", "--online", "--config", file], { env: { [KEY_ENV]: wrong } });
  assert.equal(bad.code, 1);
  assert.match(
    bad.stdout,
    /FAIL\s+store-online\s+abs:\/\/probe@devstoreaccount1 \(http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1\): /,
  );
  assert.ok(!bad.stdout.includes(wrong) && !bad.stderr.includes(wrong));
  const unset = await cli(["validate", "--config", file], { env: { [KEY_ENV]: "" } });
  assert.equal(unset.code, 1);
  assert.match(
    unset.stdout,
    /FAIL\s+secret\s+store.account-key: secret env:UNDERSTUDY_TEST_AZURITE_KEY: environment variable .* is not set/,
  );
});
