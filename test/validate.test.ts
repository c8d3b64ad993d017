import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createDatabase } from "../src/demo/fleet";
import { cli, tempDir } from "./helpers/env";

test("validate fails on an unreplicated database on disk and on the wrong Litestream version", async (t) => {
  const dir = tempDir(t, "validate");
  createDatabase(join(dir, "db", "app.db"), 8192);
  createDatabase(join(dir, "db", "forgotten.db"), 8192);
  const fake = join(dir, "litestream-old");
  writeFileSync(fake, "#!/bin/sh\necho v0.3.9\n");
  chmodSync(fake, 0o755);
  const cfg = join(dir, "understudy.yml");
  writeFileSync(
    cfg,
    `nodes: { p: { role: primary, data-dir: ./db } }
store: { type: file, path: ./store }
litestream: { binary: ./litestream-old }
databases:
  - { name: app.db, tier: P1, sync-interval: 2m }
`,
  );
  const r = await cli(["validate", "--online", "--config", cfg]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL\s+coverage\s+1 database\(s\) in .* neither replicated nor excluded: forgotten\.db/);
  assert.match(r.stdout, /FAIL\s+litestream\s+.*litestream-old is v0\.3\.9, expected v0\.3\.13/);
  assert.match(r.stdout, /WARN\s+rpo\s+sync interval above 60s breaks the 60s RPO for: app\.db \(2m\)/);
  assert.match(r.stdout, /PASS\s+store-online\s+file:\/\//);

  writeFileSync(
    cfg,
    `nodes: { p: { role: primary, data-dir: ./db } }
store: { type: file, path: ./store }
databases:
  - { name: app.db, tier: P1 }
exclude: [forgotten.db]
`,
  );
  const ok = await cli(["validate", "--json", "--config", cfg]);
  assert.equal(ok.code, 0, ok.stdout);
  const j = JSON.parse(ok.stdout);
  assert.equal(j.ok, true);
  assert.equal(j.checks.find((c: { check: string }) => c.check === "coverage").status, "pass");
});
