import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import pino from "pino";
import { LoadWriter } from "../src/demo/load";
import { digestDatabase } from "../src/fleet/rowHash";
import { Follower } from "../src/follower/follower";
import { renderFollowMetrics } from "../src/follower/metrics";
import { Replicator } from "../src/replicate/replicator";
import { CountingStore } from "../src/store/countingStore";
import { openStore } from "../src/store/open";
import { KEY_ENV, useAzurite } from "./helpers/azurite";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET } from "./helpers/fleet";

const { server: azurite, container } = useAzurite();

test("follow and point-in-time restore against Azure Blob semantics (Azurite)", async (t) => {
  const dir = tempDir(t, "abs-follow");
  await container("follow");
  const entries = SMALL_FLEET.slice(0, 3);
  const { cfg, file, dataDir } = await makeFleet(dir, entries, {
    store: { type: "abs", endpoint: azurite.endpoint, container: "follow", keyEnv: KEY_ENV },
  });
  const names = entries.map((e) => e.name);
  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(dataDir, names, 5);
  const standby = cfg.nodes[1];
  const f = new Follower(cfg, standby, new CountingStore(await openStore(cfg.store)), {
    log: pino({ level: "silent" }),
    pollMs: 200,
  });
  t.after(async () => {
    load.close();
    await f.stop();
    await r.stop();
  });
  await r.start();
  load.start();
  f.start();
  await waitFor("following on Azurite", () =>
    f.state.databases.every((d) => d.phase === "following" && d.segmentsApplied > 2),
  );

  // A point in time: rows up to here, and what the primary held at that moment.
  await new Promise((res) => setTimeout(res, 1500));
  const mark = new Date();
  const pdb = new Database(join(dataDir, "invoices.db"), { readonly: true });
  const rowsAtMark = (
    pdb.prepare("SELECT count(*) AS n FROM items WHERE created_at <= ?").get(mark.toISOString()) as { n: number }
  ).n;
  pdb.close();
  await new Promise((res) => setTimeout(res, 2500));
  load.stop();
  await r.stop();
  const m = r.manifest();
  await waitFor("caught up", () =>
    f.state.databases.every((d) => {
      const e = m.databases[cfg.databases.find((x) => x.name === d.name)!.replicaPath];
      return d.position === `${e.generation}/${e.index.toString(16).padStart(8, "0")}:${e.offset}`;
    }),
  );
  for (const n of names) {
    assert.equal(digestDatabase(join(standby.dataDir, n)).hash, digestDatabase(join(dataDir, n)).hash, n);
  }
  f.flush();
  const metrics = renderFollowMetrics(f.state);
  assert.match(metrics, /understudy_follow_lag_seconds\{db="invoices.db",tier="P0-financial"\} 0/);
  assert.match(metrics, /understudy_follow_store_operations_total\{op="get"\} [1-9]/);
  assert.match(metrics, /understudy_follow_manifest 1/);

  // Latest restore equals the primary.
  const latest = join(dir, "latest.db");
  const a = await cli(["restore", "invoices.db", "--config", file, "-o", latest, "--json"]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(JSON.parse(a.stdout).integrity, "ok");
  assert.equal(digestDatabase(latest).hash, digestDatabase(join(dataDir, "invoices.db")).hash);

  // Point in time: every row up to the mark, a little after it at most (one sync interval), none much later.
  const pit = join(dir, "pit.db");
  const b = await cli(["restore", "invoices.db", "--config", file, "--at", mark.toISOString(), "-o", pit]);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /restored invoices\.db to .*pit\.db: generation [0-9a-f]{16}/);
  const db = new Database(pit, { readonly: true });
  const all = (db.prepare("SELECT count(*) AS n FROM items").get() as { n: number }).n;
  const upToMark = (
    db.prepare("SELECT count(*) AS n FROM items WHERE created_at <= ?").get(mark.toISOString()) as { n: number }
  ).n;
  const late = (
    db
      .prepare("SELECT count(*) AS n FROM items WHERE created_at > ?")
      .get(new Date(mark.getTime() + 1500).toISOString()) as { n: number }
  ).n;
  db.close();
  assert.ok(upToMark >= rowsAtMark - 10, `restored ${upToMark} of the ${rowsAtMark} rows before the mark`);
  assert.equal(late, 0, "nothing written well after the mark");
  assert.ok(all < digestDatabase(latest).rows, "the point-in-time copy is older than the latest");

  const bad = await cli(["restore", "invoices.db", "--config", file, "--at", "yesterday-ish", "-o", join(dir, "x.db")]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--at "yesterday-ish" is not a time/);
});
