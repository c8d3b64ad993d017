import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { loadRoutingFile } from "../src/config/inferenceConfig";
import { loadConfig } from "../src/config/load";
import type { HostHealth } from "../src/inference/hostHealth";
import { HealthMonitor } from "../src/inference/monitor";
import { Router } from "../src/inference/router";
import { freePort } from "../src/util/net";
import { cli, EXAMPLES, tempDir } from "./helpers/env";
import { routingFor } from "./helpers/inference";

function health(up: Record<string, boolean>, models: Record<string, string[]> = {}): Map<string, HostHealth> {
  const m = new Map<string, HostHealth>();
  for (const [name, healthy] of Object.entries(up))
    m.set(name, {
      healthy,
      unknown: false,
      models: models[name] ?? [],
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      override: false,
    });
  return m;
}

test("the plan's tier-routing.json and understudy.yml's inference: section give the same hosts and rules", () => {
  const plan = loadRoutingFile(join(EXAMPLES, "tier-routing.json"));
  const yml = loadConfig(join(EXAMPLES, "alai.yml")).inference;
  assert.ok(yml);
  assert.deepEqual(
    plan.hosts.map((h) => [h.name, h.url, h.tailscaleUrl, h.healthPath, h.healthTimeout, h.tiers]),
    [
      ["anvil", "http://localhost:11434", "http://100.103.49.98:11434", "/api/tags", 3000, ["1", "2", "2t", "2cHQ"]],
      [
        "forge",
        "http://10.0.0.2:11434",
        "http://100.104.164.86:11434",
        "/api/tags",
        3000,
        ["2c", "2cf", "2d", "3", "3s", "3r"],
      ],
    ],
  );
  const strip = (c: typeof plan) => ({ hosts: c.hosts.map(({ role: _r, ...h }) => h), rules: c.rules });
  assert.deepEqual(strip(yml), strip(plan));
  const r = plan.rules.find((x) => x.name === "anvil-down");
  assert.deepEqual(r?.to, {
    kind: "host",
    host: "forge",
    models: { "llama3.1:8b": "llama3.1:8b", "qwen2.5-coder:32b": "qwen2.5-coder:32b-instruct-q8_0" },
  });
  assert.deepEqual(plan.rules.find((x) => x.name === "forge-down")?.to, { kind: "claude" });
});

test("a bad routing file is named by line and field, with the likely fix", (t) => {
  const dir = tempDir(t, "routing");
  const file = join(dir, "tier-routing.json");
  const text = readFileSync(join(EXAMPLES, "tier-routing.json"), "utf8")
    .replace('"anvil-down"', '"anvill-down"')
    .replace('"health_path"', '"helth_path"')
    .replace('"to_claude": true', '"to_claud": true');
  writeFileSync(file, text);
  assert.throws(
    () => loadRoutingFile(file),
    (e: Error) => {
      assert.match(
        e.message,
        /tier-routing\.json:\d+:\d+: failoverRules\.anvill-down: a failover rule is named HOST-down/,
      );
      assert.match(e.message, /:6:\d+: ollamaHosts\.anvil\.helth_path: unknown field; did you mean "health_path"\?/);
      assert.match(e.message, /failoverRules\.forge-down\.to_claud: unknown field; did you mean "to_claude"\?/);
      return true;
    },
  );
});

test("routing: owners by tier, failover by rule with model mapping, Claude only for chat, refusal otherwise", () => {
  const cfg = routingFor("http://a", "http://f");
  const r = new Router(cfg);
  const both = health(
    { anvil: true, forge: true },
    { anvil: ["qwen2.5-coder:32b"], forge: ["qwen3:32b", "nomic-embed-text"] },
  );
  const a = r.route({ model: "qwen2.5-coder:32b", tier: "2", capability: "chat" }, both);
  assert.deepEqual(
    a.targets.map((x) => (x.kind === "ollama" ? [x.host, x.model] : ["claude", x.model])),
    [
      ["anvil", "qwen2.5-coder:32b"],
      ["forge", "qwen2.5-coder:32b-instruct-q8_0"],
    ],
  );
  assert.equal(a.failover, false);
  const anvilDown = health({ anvil: false, forge: true }, { anvil: ["qwen2.5-coder:32b"] });
  const b = r.route({ model: "qwen2.5-coder:32b", tier: "2", capability: "chat" }, anvilDown);
  assert.deepEqual(b.targets, [
    { kind: "ollama", host: "forge", baseUrl: "http://f", model: "qwen2.5-coder:32b-instruct-q8_0" },
  ]);
  assert.match(b.reason, /anvil is down; rule anvil-down sends it to forge/);
  // Without a tier the owner is whoever lists the model.
  const c = r.route({ model: "qwen2.5-coder:32b", capability: "generate" }, anvilDown);
  assert.equal(c.targets[0].kind === "ollama" && c.targets[0].host, "forge");
  const forgeDown = health(
    { anvil: true, forge: false },
    { forge: ["qwen3:32b", "nomic-embed-text"], anvil: ["nomic-embed-text"] },
  );
  const d = r.route({ model: "qwen3:32b", tier: "3", capability: "chat" }, forgeDown);
  assert.deepEqual(d.targets, [{ kind: "claude", model: "claude-sonnet-4-5" }]);
  // Claude has no embeddings: another healthy host with the model takes them, else a clear refusal.
  const e = r.route({ model: "nomic-embed-text", tier: "3", capability: "other" }, forgeDown);
  assert.equal(e.targets[0].kind === "ollama" && e.targets[0].host, "anvil");
  const f = r.route({ model: "qwen3:32b", tier: "3", capability: "other" }, forgeDown);
  assert.equal(f.targets.length, 0);
  assert.match(
    f.refusal ?? "",
    /no healthy host can serve qwen3:32b: forge is down; rule forge-down escalates to Claude, which cannot serve this endpoint/,
  );
  assert.throws(
    () => r.route({ model: "m", tier: "9", capability: "chat" }, both),
    /unknown tier "9" \(known: 1, 2, 2t, 2cHQ, 2c/,
  );
});

/** A host whose health answers follow a script: true = 200, false = 500. */
async function scriptedHost(t: { after: (fn: () => Promise<void>) => void }, script: () => boolean) {
  const server = http.createServer((_req, res) => {
    if (script()) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ models: [{ name: "llama3.1:8b" }] }));
    } else {
      res.writeHead(500).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("hysteresis: a flapping host never flips routing; a host that stays down flips after fail-after, back after recover-after", async (t) => {
  let n = 0;
  let mode: "flap" | "down" | "up" = "flap";
  const url = await scriptedHost(t, () => (mode === "flap" ? n++ % 2 === 0 : mode === "up"));
  const dir = tempDir(t, "monitor");
  const healthFile = join(dir, "ollama-health.json");
  const cfg = routingFor(url, url);
  cfg.hosts = [cfg.hosts[0]];
  cfg.monitor = { ...cfg.monitor, failAfter: 2, recoverAfter: 3 };
  const m = new HealthMonitor(cfg, { log: pino({ level: "silent" }), healthFile });
  const changes: boolean[] = [];
  m.on("change", (_h: string, healthy: boolean) => changes.push(healthy));
  // 21 checks: the last of them good, so the next failure is the first in a row.
  for (let i = 0; i < 21; i++) await m.checkAll();
  assert.deepEqual(changes, [], "alternating answers never make two failures in a row");
  assert.equal(m.snapshot().get("anvil")?.healthy, true);
  mode = "down";
  await m.checkAll();
  assert.equal(m.snapshot().get("anvil")?.healthy, true, "one failure is not enough");
  await m.checkAll();
  assert.equal(m.snapshot().get("anvil")?.healthy, false);
  mode = "up";
  await m.checkAll();
  await m.checkAll();
  assert.equal(m.snapshot().get("anvil")?.healthy, false, "two good checks are not enough with recover-after 3");
  await m.checkAll();
  assert.equal(m.snapshot().get("anvil")?.healthy, true);
  assert.deepEqual(changes, [false, true]);
  const file = JSON.parse(readFileSync(healthFile, "utf8"));
  assert.equal(file.anvil.healthy, true);
  assert.ok(!Number.isNaN(Date.parse(file.anvil.last_check)), "the plan's last_check is an ISO time");
  assert.deepEqual(file.anvil.models, ["llama3.1:8b"]);
});

test("the plan's override file forces a host's state; a broken override file is ignored, not fatal", async (t) => {
  const url = await scriptedHost(t, () => true);
  const dir = tempDir(t, "override");
  const overrideFile = join(dir, "ollama-health-override.json");
  const healthFile = join(dir, "ollama-health.json");
  const cfg = routingFor(url, url);
  const m = new HealthMonitor(cfg, { log: pino({ level: "silent" }), healthFile, overrideFile });
  writeFileSync(overrideFile, '{"anvil":{"healthy":true},"forge":{"healthy":false,"override":true}}');
  await m.checkAll();
  const s = m.snapshot();
  assert.equal(s.get("anvil")?.healthy, true);
  assert.equal(s.get("anvil")?.override, false, "an entry without override: true changes nothing");
  assert.equal(s.get("forge")?.healthy, false);
  assert.equal(s.get("forge")?.override, true);
  const file = JSON.parse(readFileSync(healthFile, "utf8"));
  assert.deepEqual([file.anvil.healthy, file.forge.healthy, file.forge.override], [true, false, true]);
  const r = new Router(cfg).route({ model: "qwen3:32b", tier: "3", capability: "chat" }, s);
  assert.match(r.reason, /forge is down \(override file\)/);
  writeFileSync(overrideFile, "{not json");
  await m.checkAll();
  assert.equal(m.snapshot().get("forge")?.healthy, true);
});

test("inference route and monitor --once from the CLI, with the plan's file", async (t) => {
  const url = await scriptedHost(t, () => true);
  const dir = tempDir(t, "route-cli");
  const routing = join(dir, "tier-routing.json");
  writeFileSync(
    routing,
    readFileSync(join(EXAMPLES, "tier-routing.json"), "utf8")
      .replace("http://localhost:11434", url)
      .replace("http://10.0.0.2:11434", `http://127.0.0.1:${await freePort()}`),
  );
  const healthFile = join(dir, "h.json");
  const args = ["--routing", routing, "--health-file", healthFile, "--override-file", join(dir, "none.json")];
  const once = await cli(["inference", "monitor", "--once", ...args]);
  assert.equal(once.code, 1, "a host is down: exit 1 for cron");
  assert.match(once.stdout, /anvil\s+healthy/);
  assert.match(once.stdout, /forge\s+UNHEALTHY.*ECONNREFUSED/);
  const a = await cli(["inference", "route", "--tier", "3", "--model", "qwen3:32b", ...args]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /tier 3 qwen3:32b → claude claude-sonnet-4-5 {2}\[failover\]/);
  assert.match(a.stdout, /why: tier 3 belongs to forge; forge is down .*rule forge-down sends it to claude/);
  const b = await cli(["inference", "route", "--tier", "2", "--model", "qwen2.5-coder:32b", "--json", ...args]);
  const j = JSON.parse(b.stdout);
  assert.equal(j.targets[0].host, "anvil");
  assert.equal(j.failover, false);
  const bad = await cli(["inference", "route", "--tier", "7", "--model", "x", ...args]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown tier "7"/);
});
