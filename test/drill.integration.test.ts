import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { DrillReport } from "../src/drill/report";
import { cli, tempDir } from "./helpers/env";

async function drill(t: { after: (fn: () => void) => void }, extra: string[]) {
  const dir = tempDir(t, "drill");
  const r = await cli(["drill", "--local", "--fast", "--json", "--report-dir", join(dir, "drills"), ...extra]);
  const report = JSON.parse(r.stdout) as DrillReport & { report: { md: string; json: string } };
  const failed = report.criteria.filter((c) => !c.pass).map((c) => c.name);
  return { r, report, failed };
}

test("drill --local --fast: power loss of the primary's whole group, automatic failover, survivor serving, rejoin and failback — all six criteria of the plan pass, measured, with the report written", async (t) => {
  const { r, report, failed } = await drill(t, []);
  assert.equal(r.code, 0, `${failed.join(", ")}\n${r.stderr}`);
  assert.deepEqual(failed, []);
  assert.equal(report.pass, true);
  const m = report.measurements;
  assert.equal(m.fast, true);
  assert.ok((m.alertMs ?? Infinity) < 150_000 && (m.rtoMs ?? Infinity) < 300_000 && (m.rpoMs ?? Infinity) < 60_000);
  assert.equal(m.p0?.length, 17);
  assert.ok(m.inference?.target.startsWith("forge"), m.inference?.target);
  assert.ok(m.failback?.every((x) => x.equal && x.rows > 0));
  assert.deepEqual(m.finalLease, { holder: "anvil", epoch: 3 }, "failed over to forge (2) and back (3)");
  assert.ok(existsSync(report.report.md) && existsSync(report.report.json));
  const md = readFileSync(report.report.md, "utf8");
  assert.match(md, /\| Slack alert latency \| < 2 min 30s \| \d+\.\ds \| PASS \|/);
  assert.match(md, /\| P0 DB count on FORGE \| 17 DBs \| 17\/17/);
  assert.match(md, /FAST timings, scaled for CI/);
});

test("drill: a heartbeat watcher without a webhook fails the alert criterion, and only that one", async (t) => {
  const { r, failed } = await drill(t, ["--break", "heartbeat-webhook"]);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ["Slack alert latency"]);
});

test("drill: a stray file where the standby's P0 copy belongs fails the P0 criterion, and only that one", async (t) => {
  const { r, report, failed } = await drill(t, ["--break", "p0-database"]);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ["P0 DB count on FORGE"]);
  assert.equal(report.measurements.p0?.filter((x) => !x.ok).length, 1);
});

test("drill: Litestream on the primary stalled for longer than the RPO fails the RPO criterion, and only that one", async (t) => {
  const { r, report, failed } = await drill(t, ["--break", "replication"]);
  assert.equal(r.code, 1);
  assert.deepEqual(failed, ["FORGE DB data lag (RPO)"]);
  assert.ok((report.measurements.rpoMs ?? 0) >= 60_000);
});
