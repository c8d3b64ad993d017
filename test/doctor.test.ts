import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { HealthServer } from "../src/health/server";
import { cli, tempDir } from "./helpers/env";
import { makeFleet } from "./helpers/fleet";

test("doctor: one line per prerequisite, pass with a healthy peer; clock skew and a missing data dir fail with the fix", async (t) => {
  const dir = tempDir(t, "doctor");
  const { cfg, file } = await makeFleet(dir);
  const peer = new HealthServer({ node: cfg.nodes[1], readyLagMs: 60_000 });
  const port = (await peer.listen("127.0.0.1", 0)).port;
  t.after(() => peer.close());
  const ok = await cli(["doctor", "--config", file, "--peer", `http://127.0.0.1:${port}/health`]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  for (const check of ["litestream", "store", "data-dir", "state-dir", "peer", "clock"])
    assert.match(ok.stdout, new RegExp(`^PASS\\s+${check}\\s`, "m"), `${check} passes`);
  assert.match(ok.stdout, /PASS\s+clock\s+standby's clock is (ahead|behind) by 0\.\d\ds/);

  // A peer whose clock is two minutes fast.
  const skewed = http.createServer((_q, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ status: "ok", host: "standby", ts: new Date(Date.now() + 120_000).toISOString() }));
  });
  await new Promise<void>((r) => skewed.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => skewed.close(() => r())));
  rmSync(cfg.nodes[0].dataDir, { recursive: true });
  const bad = await cli([
    "doctor",
    "--config",
    file,
    "--peer",
    `http://127.0.0.1:${(skewed.address() as AddressInfo).port}/health`,
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /^FAIL\s+clock\s+standby's clock is ahead by 1[12]\d\.\d\ds.*\n\s+fix: enable NTP/m);
  assert.match(bad.stdout, /^FAIL\s+data-dir\s+.* does not exist.*\n\s+fix: mkdir -p /m);
  // A standby's data dir that does not exist yet: its free space is measured where it will be created.
  rmSync(cfg.nodes[1].dataDir, { recursive: true, force: true });
  const standby = await cli(["doctor", "--config", file, "--node", "standby", "--json"]);
  const space = (JSON.parse(standby.stdout) as { check: string; status: string; detail: string }[]).find(
    (c) => c.check === "data-dir",
  );
  assert.equal(space?.status, "pass", standby.stdout);
  assert.match(space?.detail ?? "", /not created yet; measured at .*: .* free, the fleet needs/);
  const down = await cli(["doctor", "--config", file, "--peer", "http://127.0.0.1:1/health", "--json"]);
  const checks = JSON.parse(down.stdout) as { check: string; status: string; fix?: string }[];
  assert.equal(checks.find((c) => c.check === "peer")?.status, "fail");
  assert.match(checks.find((c) => c.check === "peer")?.fix ?? "", /start `understudy health serve`/);
});
