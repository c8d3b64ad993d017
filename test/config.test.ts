import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ConfigError } from "../src/config/errors";
import { effective, loadConfig, parseConfig } from "../src/config/load";
import { STARTER_CONFIG } from "../src/config/starter";
import { loadInventory } from "../src/fleet/inventory";
import { parseDuration } from "../src/util/duration";
import { BAD_CONFIGS, cli, EXAMPLES } from "./helpers/env";

const H = 3_600_000;
const D = 24 * H;

test("examples/alai.yml reproduces the plan: nodes, store, tiers, all 69 inventory databases", () => {
  const cfg = loadConfig(join(EXAMPLES, "alai.yml"));
  const anvil = cfg.nodes.find((n) => n.name === "anvil");
  const forge = cfg.nodes.find((n) => n.name === "forge");
  assert.equal(anvil?.role, "primary");
  assert.equal(anvil?.address, "10.0.0.1");
  assert.equal(anvil?.tailscaleAddress, "100.103.49.98");
  assert.equal(anvil?.dataDir, "/Users/makinja/system/databases");
  assert.equal(forge?.role, "standby");
  assert.equal(forge?.address, "10.0.0.2");
  assert.equal(forge?.dataDir, "/Users/basicas/system/databases");

  assert.equal(cfg.store.type, "abs");
  if (cfg.store.type !== "abs") return;
  assert.equal(cfg.store.account, "alaibackups0ebb");
  assert.equal(cfg.store.container, "system-db-backups");
  assert.equal(cfg.store.prefix, "litestream/");
  assert.equal(cfg.store.accountKey?.text, "bitwarden:alai-storage-account-key || env:LITESTREAM_AZURE_ACCOUNT_KEY");
  assert.deepEqual(
    cfg.store.accountKey?.chain?.map((r) => r.scheme),
    ["bitwarden", "env"],
    "the plan's layers: Bitwarden, then break-glass",
  );
  assert.equal(
    cfg.store.servicePrincipal?.clientSecret.text,
    "bitwarden:alai-backup-writer || env:AZURE_CLIENT_SECRET",
  );

  const tier = (n: string) => cfg.tiers.get(n);
  assert.deepEqual(
    ["P0-critical", "P0-financial", "P1", "P2"].map((n) => [
      tier(n)?.retention,
      tier(n)?.syncInterval,
      tier(n)?.follow,
    ]),
    [
      [7 * D, 1000, true],
      [30 * D, 1000, true],
      [72 * H, 1000, true],
      [24 * H, 10_000, false],
    ],
  );
  for (const t of cfg.tiers.values()) assert.equal(t.retentionCheckInterval, H);

  const inventory = loadInventory(join(EXAMPLES, "fleet-inventory.tsv"));
  assert.equal(inventory.length, 69);
  assert.deepEqual(
    cfg.databases.map((d) => [d.name, d.tier]),
    inventory.map((e) => [e.name, e.tier]),
  );
  const db = (n: string) => cfg.databases.find((d) => d.name === n)!;
  assert.equal(effective(cfg, db("flywheel.db")).syncInterval, 30_000);
  assert.equal(effective(cfg, db("hivemind-archive.db")).syncInterval, 10_000);
  assert.equal(effective(cfg, db("mission-control.db")).syncInterval, 1000);
  assert.equal(db("mc.db").replicaPath, "mc-db");
  assert.equal(cfg.databases.filter((d) => effective(cfg, d).follow).length, 59);
});

test("the starter config that init writes loads as it is", () => {
  const cfg = parseConfig(STARTER_CONFIG, "/tmp/x/understudy.yml");
  assert.equal(cfg.store.type, "file");
  assert.equal(cfg.databases[0].name, "app.db");
  assert.equal(cfg.nodes[0].dataDir, "/tmp/x/databases");
});

test("durations accept Go's forms plus days", () => {
  assert.equal(parseDuration("1s"), 1000);
  assert.equal(parseDuration("168h"), 7 * D);
  assert.equal(parseDuration("7d"), 7 * D);
  assert.equal(parseDuration("1h30m"), 90 * 60_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1 second"), undefined);
  assert.equal(parseDuration("10"), undefined);
});

const badFiles = readdirSync(BAD_CONFIGS).filter((f) => f.endsWith(".yml"));

test("every bad config is rejected with one clear message naming file, line and field", () => {
  assert.ok(badFiles.length >= 10);
  for (const f of badFiles) {
    const path = join(BAD_CONFIGS, f);
    const text = readFileSync(path, "utf8");
    const expected = /^# expect: (.*)$/m.exec(text)?.[1];
    assert.ok(expected, `${f} has an # expect: line`);
    const err = (() => {
      try {
        parseConfig(text, path);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ConfigError, `${f} must be rejected`);
    const [, line, rest] = /^line (\d+): (.*)$/.exec(expected) ?? [undefined, undefined, expected];
    const first = err.problems[0];
    assert.equal(err.problems.length, 1, `${f}: exactly one problem, got ${err.message}`);
    assert.equal(first.file, path);
    if (line) assert.equal(first.line, Number(line), `${f}: line of ${err.message}`);
    assert.ok(err.message.includes(rest), `${f}: "${err.message}" should contain "${rest}"`);
    if (line) assert.ok(err.message.startsWith(`${path}:${line}:`), `${f}: message starts with file:line`);
  }
});

test("the CLI prints a bad config's problem on one line, exit 2, no stack trace", async () => {
  for (const f of badFiles) {
    const r = await cli(["validate", "--config", join(BAD_CONFIGS, f)]);
    assert.equal(r.code, 2, `${f}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${f}: ${r.stderr}`);
    assert.ok(lines[0].includes(join(BAD_CONFIGS, f)), r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const missing = await cli(["status", "--config", "/nonexistent/understudy.yml"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no such config file.*understudy init/);
});

test("a secret value never appears in a config error", () => {
  const text = readFileSync(join(BAD_CONFIGS, "literal-secret.yml"), "utf8");
  try {
    parseConfig(text, "x.yml");
    assert.fail("must reject");
  } catch (e) {
    assert.doesNotMatch((e as Error).message, /Eby8vdM02xNOcqFlqUwJPLlm/);
  }
});
