import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { loadConfig } from "../src/config/load";
import { litestreamBinary } from "../src/litestream/binary";
import { cli, EXAMPLES, tempDir } from "./helpers/env";

const SECRET = "c3VwZXItc2VjcmV0LWFjY291bnQta2V5LXZhbHVl";

test("render litestream --role primary writes the whole fleet for v0.3.13, with no secret in it", async (t) => {
  const dir = tempDir(t, "render");
  const out = join(dir, "litestream.yml");
  const r = await cli(
    ["render", "litestream", "--role", "primary", "--config", join(EXAMPLES, "alai.yml"), "-o", out],
    {
      env: { LITESTREAM_AZURE_ACCOUNT_KEY: SECRET, AZURE_CLIENT_SECRET: SECRET },
    },
  );
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(out, "utf8");
  assert.doesNotMatch(text, new RegExp(SECRET));
  assert.doesNotMatch(text, /account-key/);
  const doc = parse(text);
  assert.equal(doc.dbs.length, 69);
  const mc = doc.dbs.find((d: { path: string }) => d.path.endsWith("/mission-control.db"));
  assert.equal(mc.path, "/Users/makinja/system/databases/mission-control.db");
  assert.deepEqual(mc.replicas[0], {
    name: "abs",
    type: "abs",
    "account-name": "alaibackups0ebb",
    bucket: "system-db-backups",
    path: "litestream/mission-control",
    retention: "168h",
    "retention-check-interval": "1h",
    "snapshot-interval": "24h",
    "sync-interval": "1s",
  });
  const by = (n: string) => doc.dbs.find((d: { path: string }) => d.path.endsWith(`/${n}`)).replicas[0];
  assert.equal(by("fiken.db").retention, "720h");
  assert.equal(by("flywheel.db")["sync-interval"], "30s");
  assert.equal(by("vcr.db")["sync-interval"], "10s");
  assert.equal(by("vcr.db").retention, "24h");
  assert.equal(by("mc.db").path, "litestream/mc-db");
  assert.equal(doc.logging.type, "json");
  assert.ok(statSync(out).size > 0);

  // The real Litestream parses it: `litestream databases` lists every database from this file.
  const listed = execFileSync(litestreamBinary({}), ["databases", "-config", out], { encoding: "utf8" });
  assert.equal(listed.trim().split("\n").length - 1, 69);
  assert.match(listed, /mission-control\.db\s+abs/);
});

test("render --role standby lists only the tiers that follow, at the standby's paths", async () => {
  const r = await cli(["render", "litestream", "--role", "standby", "--config", join(EXAMPLES, "alai.yml")]);
  assert.equal(r.code, 0, r.stderr);
  const doc = parse(r.stdout);
  assert.equal(doc.dbs.length, 59);
  assert.ok(doc.dbs.every((d: { path: string }) => d.path.startsWith("/Users/basicas/system/databases/")));
  assert.ok(!doc.dbs.some((d: { path: string }) => d.path.endsWith("/vcr.db")));
  assert.match(r.stdout, /Restore only/);
});

test("a file store renders file replicas below the store path", async (t) => {
  const dir = tempDir(t, "render-file");
  const cfgFile = join(dir, "u.yml");
  writeFileSync(
    cfgFile,
    "nodes: { p: { role: primary, data-dir: ./db } }\nstore: { type: file, path: ./store, prefix: ls }\ndatabases:\n  - { name: a.db, tier: P2 }\n",
  );
  const cfg = loadConfig(cfgFile);
  const { renderLitestreamConfig } = await import("../src/litestream/render");
  const doc = parse(renderLitestreamConfig(cfg, cfg.nodes[0]));
  assert.equal(doc.dbs[0].replicas[0].type, "file");
  assert.equal(doc.dbs[0].replicas[0].path, join(dir, "store", "ls", "a"));
});
