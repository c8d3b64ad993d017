import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parseConfig } from "../src/config/load";
import { loadInventory } from "../src/fleet/inventory";
import { importLitestreamConfig } from "../src/litestream/import";
import { cli, EXAMPLES, tempDir } from "./helpers/env";

const planYml = join(EXAMPLES, "plan-litestream.yml");

test("import reads the plan's litestream.yml: 68 databases, tiers from retention, the plan's overrides", () => {
  const r = importLitestreamConfig(readFileSync(planYml, "utf8"), planYml, "anvil");
  assert.equal(r.databases.length, 68);
  const cfg = parseConfig(r.yaml, "imported.yml");
  assert.equal(cfg.nodes[0].dataDir, "/Users/makinja/system/databases");
  assert.equal(cfg.store.type, "abs");
  if (cfg.store.type === "abs") {
    assert.equal(cfg.store.account, "alaibackups0ebb");
    assert.equal(cfg.store.container, "system-db-backups");
    assert.equal(cfg.store.prefix, "litestream/");
  }
  const inventory = new Map(loadInventory(join(EXAMPLES, "fleet-inventory.tsv")).map((e) => [e.name, e.tier]));
  for (const d of cfg.databases) assert.equal(d.tier, inventory.get(d.name), d.name);
  const byName = new Map(cfg.databases.map((d) => [d.name, d]));
  assert.equal(byName.get("flywheel.db")?.syncInterval, 30_000);
  assert.equal(byName.get("hivemind-archive.db")?.syncInterval, 10_000);
  assert.equal(byName.get("mission-control.db")?.syncInterval, undefined);
  assert.equal(byName.get("mc.db")?.replicaPath, "mc-db");
  assert.equal(r.guessed.length, 0);
  assert.ok(!byName.has("rag-cache.db"), "the plan's file misses rag-cache.db");
});

test("import handles Litestream 0.5's single replica and URLs, guesses and says so, never copies a key", () => {
  const text = `
dbs:
  - path: /data/app.db
    replica:
      url: abs://backups@myaccount/prod/app
      account-key: c2VjcmV0LWtleS12YWx1ZQ==
      retention: 100h
      sync-interval: 5s
  - path: /data/cache.db
    replica:
      type: file
      path: /backups/prod/cache
`;
  const r = importLitestreamConfig(text, "ls05.yml");
  const cfg = parseConfig(r.yaml, "out.yml");
  assert.equal(cfg.databases.length, 2);
  assert.equal(cfg.store.type, "abs");
  if (cfg.store.type === "abs") assert.equal(cfg.store.account, "myaccount");
  assert.deepEqual(
    r.guessed.map((g) => g.name),
    ["app.db", "cache.db"],
  );
  assert.match(r.guessed[0].guess ?? "", /100h matches no tier; nearest is P1/);
  assert.match(r.guessed[1].guess ?? "", /no retention/);
  assert.equal(cfg.databases[0].syncInterval, 5000);
  assert.doesNotMatch(r.yaml, /c2VjcmV0/);
  assert.ok(r.warnings.some((w) => /literal account key; it was NOT copied/.test(w)));
});

test("understudy import writes a config that validates offline, and reports guesses on the terminal", async (t) => {
  const dir = tempDir(t, "import");
  const out = join(dir, "understudy.yml");
  const r = await cli(["import", planYml, "-o", out, "--node", "anvil"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 68 databases/);
  assert.match(r.stdout, /every tier matched exactly/);
  const again = await cli(["import", planYml, "-o", out]);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
});
