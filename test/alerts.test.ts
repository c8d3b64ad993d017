import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { cli, EXAMPLES, tempDir } from "./helpers/env";

const promtool = spawnSync("promtool", ["--version"]).status === 0;
const why = "promtool not found: install Debian's prometheus package (.ci/run does)";

type Rules = { groups: { rules: { alert: string; annotations: { description: string } }[] }[] };

test("render prometheus-rules: promtool check rules accepts them, and promtool test rules shows each firing with its reason", {
  skip: promtool ? false : why,
}, async (t) => {
  const dir = tempDir(t, "rules");
  const file = join(dir, "rules.yml");
  const r = await cli(["render", "prometheus-rules", "--config", join(EXAMPLES, "alai.yml"), "-o", file]);
  assert.equal(r.code, 0, r.stderr);
  const check = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /SUCCESS: 9 rules found/);

  const rules = (parse(readFileSync(file, "utf8")) as Rules).groups[0].rules;
  const desc = (a: string) => rules.find((x) => x.alert === a)?.annotations.description;
  const cases = [
    {
      series: [['understudy_follow_lag_seconds{instance="forge:9811",db="mission-control.db"}', "10 30 90 90 90 90"]],
      at: "5m",
      alert: "UnderstudyStandbyLagAboveRPO",
      labels: { severity: "critical", instance: "forge:9811", db: "mission-control.db" },
      summary: "Standby copy of mission-control.db is 1m 30s behind (RPO 60s)",
    },
    {
      series: [['understudy_health_primary_ok{instance="anvil:8099",node="anvil"}', "1 0 0 0 0 0"]],
      at: "5m",
      alert: "UnderstudyNoPrimary",
      labels: { severity: "critical" },
      summary: "No node serves /primary: nothing is replicating",
    },
    {
      series: [
        ['understudy_lease_epoch{instance="anvil:9810",node="anvil"}', "1 1 1 _ _ _"],
        ['understudy_lease_epoch{instance="forge:9810",node="forge"}', "_ _ _ 2 2 2"],
      ],
      at: "4m",
      alert: "UnderstudyLeaseChangedHands",
      labels: { severity: "warning" },
      summary: "The lease changed hands: a failover or switchover happened",
    },
    {
      series: [['understudy_inference_host_healthy{instance="forge:11435",host="anvil"}', "1 0 0 0 0 0"]],
      at: "5m",
      alert: "UnderstudyInferenceHostDown",
      labels: { severity: "warning", host: "anvil" },
      summary: "Ollama host anvil is down",
    },
    {
      series: [['understudy_heartbeat_last_round_timestamp_seconds{instance="watcher:9812"}', "0 60 120 180"]],
      at: "15m",
      alert: "UnderstudyHeartbeatWatcherSilent",
      labels: { severity: "critical" },
      summary: "The external heartbeat watcher is silent",
    },
  ];
  const yaml = [
    "rule_files:",
    `  - ${file}`,
    "evaluation_interval: 1m",
    "tests:",
    ...cases.flatMap((c) => [
      "  - interval: 1m",
      "    input_series:",
      ...c.series.flatMap(([s, v]) => [`      - series: '${s}'`, `        values: '${v}'`]),
      "    alert_rule_test:",
      `      - eval_time: ${c.at}`,
      `        alertname: ${c.alert}`,
      "        exp_alerts:",
      `          - exp_labels: ${JSON.stringify(c.labels)}`,
      `            exp_annotations: ${JSON.stringify({ summary: c.summary, description: desc(c.alert) })}`,
    ]),
  ].join("\n");
  const testFile = join(dir, "rules.test.yml");
  writeFileSync(testFile, yaml);
  const run = spawnSync("promtool", ["test", "rules", testFile], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  // And a healthy pair fires nothing: the same series, all well.
  const quiet = yaml
    .replace("10 30 90 90 90 90", "1 1 1 1 1 1")
    .replace(
      /exp_alerts:\n\s+- exp_labels: \{"severity":"critical","instance":"forge:9811"[^\n]*\n[^\n]*\n/,
      "exp_alerts: []\n",
    );
  writeFileSync(testFile, quiet);
  const q = spawnSync("promtool", ["test", "rules", testFile], { encoding: "utf8" });
  assert.equal(q.status, 0, q.stdout + q.stderr);
  assert.notEqual(quiet, yaml);
});
