import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { DrillReport } from "../src/drill/report";
import { SlackStandin } from "../src/drill/slackStandin";
import { HealthServer } from "../src/health/server";
import { freePort } from "../src/util/net";
import { cli, tempDir, waitFor } from "./helpers/env";
import { extendConfig, makeFleet, SMALL_FLEET } from "./helpers/fleet";
import { understudyProcess } from "./helpers/standby";

async function drill(t: { after: (fn: () => void) => void }, extra: string[]) {
  const dir = tempDir(t, "drill");
  // A drill on a loaded 2-core machine may take minutes; its own steps have their own deadlines.
  const r = await cli(["drill", "--local", "--fast", "--json", "--report-dir", join(dir, "drills"), ...extra], {
    timeoutMs: 540_000,
  });
  const report = JSON.parse(r.stdout) as DrillReport & { report: { md: string; json: string } };
  const failed = report.criteria.filter((c) => !c.pass).map((c) => c.name);
  return { r, report, failed };
}

test("drill --local --fast: power loss of the primary's whole group, automatic failover, survivor serving, rejoin and failback — all six criteria of the plan pass, measured, with the report written", async (t) => {
  const { r, report, failed } = await drill(t, []);
  assert.equal(r.code, 0, `${failed.join(", ")}\n${r.stderr}`);
  assert.deepEqual(
    failed,
    [],
    JSON.stringify({ criteria: report.criteria, failback: report.measurements.failback?.filter((x) => !x.equal) }),
  );
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

test("drill check on a running pair: replicas, primary, standby and secrets pass; a heartbeat without a webhook fails with its fix; with one, --ping-slack reaches Slack", async (t) => {
  const dir = tempDir(t, "drillcheck");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 2));
  const ports = { primary: await freePort(), standby: await freePort() };
  writeFileSync(
    file,
    readFileSync(file, "utf8")
      .replace("    role: primary\n", `    role: primary\n    health-url: http://127.0.0.1:${ports.primary}\n`)
      .replace("    role: standby\n", `    role: standby\n    health-url: http://127.0.0.1:${ports.standby}\n`),
  );
  const cfg = extendConfig(file, "failover:\n  lease-ttl: 3s");
  for (const n of cfg.nodes) {
    const h = new HealthServer({ node: n, readyLagMs: 60_000 });
    await h.listen("127.0.0.1", ports[n.name as "primary" | "standby"]);
    t.after(() => h.close());
  }
  for (const n of cfg.nodes) understudyProcess(t, ["run", "--config", file, "--node", n.name, "--metrics-listen", ""]);
  await waitFor(
    "a ready standby",
    async () => {
      const r = await fetch(`http://127.0.0.1:${ports.standby}/standby?lag=60s`).catch(() => undefined);
      return r?.status === 200;
    },
    60_000,
  );
  const first = await cli(["drill", "check", "--config", file, "--node", "standby", "--json"]);
  assert.equal(first.code, 1, first.stderr);
  const checks = JSON.parse(first.stdout) as { check: string; status: string; detail: string; fix?: string }[];
  const by = (c: string) => checks.find((x) => x.check === c);
  assert.equal(by("replicas")?.status, "pass", by("replicas")?.detail);
  assert.equal(by("primary")?.status, "pass", by("primary")?.detail);
  assert.equal(by("standby standby")?.status, "pass", by("standby standby")?.detail);
  assert.equal(by("heartbeat")?.status, "fail");
  assert.match(by("heartbeat")?.fix ?? "", /heartbeat.targets and heartbeat.slack-webhook/);

  const slack = new SlackStandin();
  const hook = await slack.listen();
  t.after(() => slack.close());
  extendConfig(
    file,
    `heartbeat:\n  targets: [http://127.0.0.1:${ports.primary}/primary]\n  slack-webhook: env:DRILL_CHECK_WEBHOOK`,
  );
  const second = await cli(["drill", "check", "--config", file, "--node", "standby", "--ping-slack"], {
    env: { DRILL_CHECK_WEBHOOK: hook },
  });
  assert.equal(second.code, 0, second.stdout);
  assert.match(second.stdout, /heartbeat\s+PASS\s+.*a test ping reached Slack/);
  assert.equal(slack.messages.length, 1);
  assert.match(slack.messages[0].text, /drill check from standby: test ping/);
  assert.ok(!second.stdout.includes(hook), "the webhook URL is a secret: never printed");
});
