import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { ROLES } from "../src/service/roles";
import { cli, EXAMPLES, ROOT, tempDir } from "./helpers/env";

const ALAI = join(EXAMPLES, "alai.yml");
const SECRET = "sk-ant-do-not-print-0123456789";

test("render launchd and systemd for every role: restart policy, logs, and no secret values", async () => {
  for (const role of ROLES) {
    const l = await cli(["render", "launchd", role, "--config", ALAI], { env: { ANTHROPIC_API_KEY: SECRET } });
    assert.equal(l.code, 0, `${role}: ${l.stderr}`);
    for (const key of ["RunAtLoad", "KeepAlive", "ThrottleInterval", "StandardOutPath", "StandardErrorPath"])
      assert.match(l.stdout, new RegExp(`<key>${key}</key>`), `${role} plist has ${key}`);
    assert.match(l.stdout, new RegExp(`<string>com\\.understudy\\.${role}</string>`));
    assert.ok(!l.stdout.includes(SECRET));
    const s = await cli(["render", "systemd", role, "--config", ALAI], { env: { ANTHROPIC_API_KEY: SECRET } });
    assert.equal(s.code, 0, `${role}: ${s.stderr}`);
    assert.match(s.stdout, /^Restart=always$/m);
    assert.match(s.stdout, /^ExecStart=\S+ \S+understudy\.js /m);
    assert.ok(!s.stdout.includes(SECRET));
  }
  const proxy = await cli(["render", "launchd", "inference-proxy", "--config", ALAI]);
  assert.match(proxy.stderr, /env:ANTHROPIC_API_KEY \(inference\.claude\.api-key\).*switch those to file: references/);
  const bad = await cli(["render", "systemd", "frobnicate", "--config", ALAI]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /ROLE is one of run, replicate, follow, inference-monitor, inference-proxy, health, heartbeat, dns/,
  );
});

test("a unit that must hold secrets is written 0600 and says so; never to stdout", async (t) => {
  const dir = tempDir(t, "units");
  const env = { ANTHROPIC_API_KEY: SECRET, UNDERSTUDY_PROXY_TOKEN: "tok-123456" };
  const refused = await cli(["render", "launchd", "inference-proxy", "--inline-secrets", "--config", ALAI], { env });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /needs -o FILE/);
  const plist = join(dir, "proxy.plist");
  const w = await cli(["render", "launchd", "inference-proxy", "--inline-secrets", "-o", plist, "--config", ALAI], {
    env,
  });
  assert.equal(w.code, 0, w.stderr);
  assert.match(w.stderr, /mode 0600: it holds secret values/);
  assert.equal(statSync(plist).mode & 0o777, 0o600);
  assert.match(readFileSync(plist, "utf8"), new RegExp(`<key>ANTHROPIC_API_KEY</key>\\s*<string>${SECRET}</string>`));
  const envFile = join(dir, "proxy.env");
  const unit = join(dir, "proxy.service");
  const s = await cli(
    [
      "render",
      "systemd",
      "inference-proxy",
      "--environment-file",
      envFile,
      "--write-environment-file",
      "-o",
      unit,
      "--config",
      ALAI,
    ],
    { env },
  );
  assert.equal(s.code, 0, s.stderr);
  assert.equal(statSync(envFile).mode & 0o777, 0o600);
  assert.equal(readFileSync(envFile, "utf8"), `ANTHROPIC_API_KEY=${SECRET}\nUNDERSTUDY_PROXY_TOKEN=tok-123456\n`);
  assert.match(readFileSync(unit, "utf8"), new RegExp(`^EnvironmentFile=${envFile}$`, "m"));
  assert.equal(statSync(unit).mode & 0o777, 0o644);
  assert.ok(!readFileSync(unit, "utf8").includes(SECRET));
});

test("render github-workflow: valid for GitHub's own parser, watches the whole window, carries state", async (t) => {
  const dir = tempDir(t, "workflow");
  const out = join(dir, "heartbeat.yml");
  const r = await cli(["render", "github-workflow", "--tailscale", "-o", out, "--config", ALAI]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /ANVIL_HEALTH_URL and FORGE_HEALTH_URL \(base URLs, e\.g\. http:\/\/100\.103\.49\.98:8099\), SLACK_OPS_WEBHOOK, SLACK_ESCALATION_WEBHOOK, TS_OAUTH_CLIENT_ID/,
  );
  const errors = JSON.parse(
    execFileSync(process.execPath, [join(ROOT, "test", "helpers", "checkWorkflow.mjs"), out], {
      cwd: ROOT,
      encoding: "utf8",
    }),
  );
  assert.deepEqual(errors, [], "GitHub's workflow parser finds no errors");
  const wf = parseYaml(readFileSync(out, "utf8"));
  assert.equal(wf.on.schedule[0].cron, "*/5 * * * *");
  const job = wf.jobs.heartbeat;
  assert.ok(job["timeout-minutes"] > 5, "the job outlives its 5-minute watch");
  const watch = job.steps.find((s: { run?: string }) => s.run?.includes("heartbeat watch"));
  assert.match(watch.run, /--interval 60s --for 5m/);
  assert.match(watch.run, /--alert-after 2 --escalate-after 5/);
  assert.match(watch.run, /--slack-webhook env:SLACK_OPS_WEBHOOK/);
  const restore = job.steps.find((s: { uses?: string }) => s.uses?.startsWith("actions/cache/restore"));
  const save = job.steps.find((s: { uses?: string }) => s.uses?.startsWith("actions/cache/save"));
  assert.equal(restore.with.path, save.with.path);
  assert.equal(save.if, "always()");
  assert.match(watch.run, new RegExp(`--state ${restore.with.path}/state\\.json`));
  assert.ok(job.steps.some((s: { uses?: string }) => s.uses?.startsWith("tailscale/github-action")));
  // A broken workflow is caught by the same check, so the check above can fail.
  const broken = join(dir, "broken.yml");
  writeFileSync(broken, readFileSync(out, "utf8").replace("timeout-minutes: 10", "timeout-minutes: soon"));
  const e2 = JSON.parse(
    execFileSync(process.execPath, [join(ROOT, "test", "helpers", "checkWorkflow.mjs"), broken], {
      cwd: ROOT,
      encoding: "utf8",
    }),
  );
  assert.ok(e2.length > 0);
});
