import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig, parseConfig } from "../src/config/load";
import { estimateCost } from "../src/store/cost";
import { cli, EXAMPLES } from "./helpers/env";

test("cost of one database matches the model worked by hand", () => {
  const cfg = parseConfig(
    `nodes: { p: { role: primary, data-dir: /d } }
store: { type: file, path: /s }
tiers: { T: { retention: 24h, sync-interval: 1s, snapshot-interval: 24h, retention-check-interval: 1h, follow: true } }
databases: [ { name: a.db, tier: T, size: 1 GB, writes: 1 } ]
cost:
  prices: { currency: EUR, storage-per-gb-month: 0.02, write-per-10k: 0.05, list-per-10k: 0.05, read-per-10k: 0.004 }
  bytes-per-write: 1000
  wal-compression: 1
  standby-poll-interval: 30s
  standby-lists-per-poll: 3
`,
    "x.yml",
  );
  const r = estimateCost(cfg);
  const month = 30 * 86400;
  const uploadsPerS = 1 - Math.exp(-1);
  // Storage: 2 snapshots of 1 GiB kept + a day of WAL (86.4 MB).
  const gb = (2 * 1024 ** 3 + 86_400 * 1000) / 1024 ** 3;
  assert.ok(Math.abs(r.total.storageGb - gb) < 1e-9);
  assert.ok(Math.abs(r.total.walPuts - uploadsPerS * month) < 1e-6);
  assert.equal(r.total.snapshotPuts, 30 * (256 + 1));
  assert.equal(r.total.retentionLists, 720 * 3);
  // The manifest: published at most once a second while anything uploads; read once per poll (500 ms).
  assert.ok(Math.abs(r.total.manifestPuts - uploadsPerS * month) < 1e-6);
  assert.equal(r.total.followerLists, 0);
  assert.ok(Math.abs(r.total.followerGets - (uploadsPerS * month + 2 * month)) < 1e-6);
  assert.equal(r.planLoop.lists, (month / 30) * 3);
  const expectedOps =
    ((2 * uploadsPerS * month + 30 * 257) / 1e4) * 0.05 +
    (2160 / 1e4) * 0.05 +
    ((uploadsPerS * month + 2 * month) / 1e4) * 0.004;
  assert.ok(Math.abs(r.total.writeCost + r.total.listCost + r.total.readCost - expectedOps) < 1e-6);
});

test("for the plan's fleet operations cost far more than the storage the plan priced; a 10 s sync costs less", () => {
  const r = estimateCost(loadConfig(join(EXAMPLES, "alai.yml")));
  assert.ok(r.storageOnly < 1, `storage ${r.storageOnly}`);
  assert.ok(r.total.total > 20 * r.storageOnly);
  assert.ok(r.allAtTenSeconds.walPuts < r.allAtOneSecond.walPuts);
  assert.equal(r.lines.find((l) => l.tier === "P2")?.followerGets, 0);
  assert.ok(r.followerOperationsCost < r.primaryOperationsCost, "the follower costs less than the primary's uploads");
  assert.ok(r.planLoop.cost > r.followerOperationsCost);
  // Calibrated to the plan's own estimate of about 500 MB of WAL a day.
  assert.ok(r.walBytesPerDay > 200e6 && r.walBytesPerDay < 800e6, `${r.walBytesPerDay}`);
});

test("understudy cost prints tiers, totals, the 1 s comparison and where prices come from", async () => {
  const r = await cli(["cost", "--config", join(EXAMPLES, "alai.yml")]);
  assert.equal(r.code, 0, r.stderr);
  for (const s of ["P0-critical", "P0-financial", "P1", "P2", "total", "all at 1s", "Storage alone", "Prices:"])
    assert.ok(r.stdout.includes(s), s);
  const j = JSON.parse((await cli(["cost", "--json", "--config", join(EXAMPLES, "alai.yml")])).stdout);
  assert.equal(j.total.databases, 69);
});
