import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { serveHeartbeatMetrics } from "../src/heartbeat/metrics";
import { SlackWebhookNotifier } from "../src/heartbeat/slackWebhook";
import { Heartbeat, type HeartbeatOptions } from "../src/heartbeat/watcher";
import { BIN, cli, tempDir, waitFor } from "./helpers/env";

type Closer = { after: (fn: () => Promise<void>) => void };

/** A stand-in for Slack incoming webhooks: records every POST body per path; can be told to fail. */
async function slackStandin(t: Closer) {
  const got: { path: string; text: string }[] = [];
  let failNext = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (failNext > 0) {
      failNext--;
      res.writeHead(500).end("internal_error");
      return;
    }
    const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { text?: string };
    if (req.method !== "POST" || typeof body.text !== "string") {
      res.writeHead(400).end("invalid_payload");
      return;
    }
    got.push({ path: req.url ?? "", text: body.text });
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ops: `${base}/services/T000/B0OPS/xyz`,
    esc: `${base}/services/T000/B0ESC/xyz`,
    got,
    fail: (n: number) => {
      failNext = n;
    },
    to: (which: "OPS" | "ESC") => got.filter((g) => g.path.includes(`B0${which}`)).map((g) => g.text),
  };
}

/** A target whose health follows `up()`. */
async function target(t: Closer, up: () => boolean) {
  const server = http.createServer((_req, res) => {
    if (up()) res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok","host":"anvil"}');
    else res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
}

function options(
  stateFile: string,
  slack: { ops: string; esc: string },
  extra: Partial<HeartbeatOptions> = {},
): HeartbeatOptions {
  return {
    interval: 100,
    timeout: 2000,
    alertAfter: 2,
    escalateAfter: 5,
    reminderInterval: 0,
    stateFile,
    ops: new SlackWebhookNotifier("ops", slack.ops),
    escalation: new SlackWebhookNotifier("escalation", slack.esc),
    log: pino({ level: "silent" }),
    ...extra,
  };
}

test("alert after 2 failures, escalate after 5, one recovery notice; nothing repeated", async (t) => {
  const dir = tempDir(t, "hb");
  const slack = await slackStandin(t);
  let up = false;
  const url = await target(t, () => up);
  const hb = new Heartbeat([url], options(join(dir, "state.json"), slack));
  await hb.round();
  assert.equal(slack.got.length, 0, "one failure is not an outage");
  await hb.round();
  assert.equal(slack.to("OPS").length, 1);
  assert.match(
    slack.to("OPS")[0],
    /:red_circle: 127\.0\.0\.1:\d+\/health is DOWN: 2 checks failed in a row since .* \(last: HTTP 503\)/,
  );
  for (let i = 0; i < 2; i++) await hb.round();
  assert.equal(slack.got.length, 1, "no repeats between the alert and the escalation");
  await hb.round();
  assert.equal(slack.to("ESC").length, 1);
  assert.match(slack.to("ESC")[0], /still DOWN: 5 checks failed in a row/);
  for (let i = 0; i < 3; i++) await hb.round();
  assert.equal(slack.got.length, 2, "nothing more while it stays down (reminders off)");
  up = true;
  await hb.round();
  await hb.round();
  assert.deepEqual(
    slack.got.map((g) => [g.path.includes("OPS") ? "ops" : "esc", g.text.split(" ")[0]]),
    [
      ["ops", ":red_circle:"],
      ["esc", ":rotating_light:"],
      ["ops", ":large_green_circle:"],
      ["esc", ":large_green_circle:"],
    ],
  );
  assert.match(slack.got[2].text, /is answering again after \d+/);
});

test("a flapping target (down, up, down, up…) never alerts; reminders come at the reminder interval", async (t) => {
  const dir = tempDir(t, "hb-flap");
  const slack = await slackStandin(t);
  let n = 0;
  const url = await target(t, () => n++ % 2 === 1);
  const hb = new Heartbeat([url], options(join(dir, "state.json"), slack));
  for (let i = 0; i < 12; i++) await hb.round();
  assert.equal(slack.got.length, 0);
  const dir2 = tempDir(t, "hb-remind");
  const url2 = await target(t, () => false);
  const hb2 = new Heartbeat(
    [url2],
    options(join(dir2, "state.json"), slack, { escalateAfter: 100, reminderInterval: 250 }),
  );
  // A clock that moves 100 ms per round, so the count does not depend on how fast this machine is:
  // alert at 100 ms, reminders at 400, 700 and 1000 ms.
  const t0 = Date.now();
  for (let i = 0; i < 12; i++) await hb2.round(() => new Date(t0 + i * 100));
  const reminders = slack.to("OPS").filter((x) => x.includes("reminder"));
  assert.equal(reminders.length, 3, `${reminders.length} reminders in 1.1 s at one per 250 ms`);
});

test("Slack failing: the alert waits and arrives, in order, once Slack answers again", async (t) => {
  const dir = tempDir(t, "hb-slack");
  const slack = await slackStandin(t);
  const url = await target(t, () => false);
  const hb = new Heartbeat([url], options(join(dir, "state.json"), slack));
  slack.fail(100);
  for (let i = 0; i < 2; i++) await hb.round();
  const state = JSON.parse(readFileSync(join(dir, "state.json"), "utf8"));
  assert.equal(Object.values(state.targets as Record<string, { pending: unknown[] }>)[0].pending.length, 1);
  slack.fail(0);
  await hb.round();
  assert.equal(slack.to("OPS").length, 1);
  assert.match(slack.to("OPS")[0], /is DOWN/);
});

test("the watcher killed and restarted mid-incident keeps its counts: one alert, one escalation", async (t) => {
  const dir = tempDir(t, "hb-restart");
  const slack = await slackStandin(t);
  const url = await target(t, () => false);
  const stateFile = join(dir, "state.json");
  const args = [
    "--state",
    stateFile,
    "--slack-webhook",
    "env:HB_OPS",
    "--escalation-webhook",
    "env:HB_ESC",
    "--timeout",
    "2s",
  ];
  const env = { HB_OPS: slack.ops, HB_ESC: slack.esc };
  // Two one-shot runs, like a cron job: separate processes, the count carried in the state file.
  const first = await cli(["heartbeat", "once", url, ...args], { env });
  assert.equal(first.code, 1);
  assert.equal(slack.got.length, 0);
  await cli(["heartbeat", "once", url, ...args], { env });
  assert.equal(slack.to("OPS").length, 1, "alerted on the second failure, across processes");
  const count = () => JSON.parse(readFileSync(stateFile, "utf8")).targets[url].consecutiveFailures as number;
  const watch = (): ChildProcess =>
    spawn(process.execPath, [BIN, "heartbeat", "watch", url, ...args, "--interval", "150ms"], {
      env: { ...process.env, ...env },
      stdio: "ignore",
    });
  const a = watch();
  await waitFor("third failure counted", () => count() >= 3);
  a.kill("SIGKILL");
  await new Promise((r) => a.once("exit", r));
  const b = watch();
  t.after(async () => {
    b.kill("SIGKILL");
  });
  await waitFor("escalated", () => slack.to("ESC").length === 1);
  await waitFor("a few more failures", () => count() >= 8);
  b.kill("SIGKILL");
  await new Promise((r) => b.once("exit", r));
  assert.equal(slack.to("OPS").length, 1, "no second alert after the restart");
  assert.equal(slack.to("ESC").length, 1, "escalated once, at the fifth failure");
  assert.match(slack.to("ESC")[0], /5 checks failed in a row/);
  assert.ok(!JSON.stringify(readFileSync(stateFile, "utf8")).includes("B0OPS"), "the state file holds no webhook URL");
});

test("an understudy endpoint's reason goes into the alert; the watcher's own metrics show the target down and its last round", async (t) => {
  const dir = tempDir(t, "hbreason");
  const slack = await slackStandin(t);
  const server = http.createServer((_req, res) => {
    res
      .writeHead(503, { "content-type": "application/json" })
      .end('{"ok":false,"reason":"understudy follow (pid 4242) is not running"}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/standby?lag=60s`;
  const stateFile = join(dir, "state.json");
  const hb = new Heartbeat([url], options(stateFile, slack));
  await hb.round();
  await hb.round();
  assert.match(
    slack.to("OPS")[0],
    /127\.0\.0\.1:\d+\/standby\?lag=60s is DOWN: .*\(last: HTTP 503: understudy follow \(pid 4242\) is not running\)/,
  );
  const m = await serveHeartbeatMetrics(hb, stateFile, "127.0.0.1", 0);
  t.after(() => new Promise<void>((r) => m.close(() => r())));
  const text = await (await fetch(`http://127.0.0.1:${(m.address() as AddressInfo).port}/metrics`)).text();
  assert.ok(text.includes(`understudy_heartbeat_up{target="${url}"} 0`), text);
  assert.ok(text.includes(`understudy_heartbeat_consecutive_failures{target="${url}"} 2`), text);
  assert.ok(text.includes(`understudy_heartbeat_alerting{target="${url}"} 1`), text);
  const last = Number(/^understudy_heartbeat_last_round_timestamp_seconds (\S+)$/m.exec(text)?.[1]);
  assert.ok(Math.abs(last - Date.now() / 1000) < 60, `last round ${last}`);
});
