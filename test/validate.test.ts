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
  writeFileSync(fake, "#!/bin/sh\necho v0.4.0\n");
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
  assert.match(
    r.stdout,
    /FAIL\s+litestream\s+.*litestream-old \(litestream\.binary\) is Litestream v0\.4\.0: understudy drives 0\.3\.x and 0\.5\.x/,
  );
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

test("validate: any 0.3.x or 0.5.x Litestream is accepted; litestream.version pins one, and another is refused naming both", async (t) => {
  const dir = tempDir(t, "validate-pin");
  const fake = join(dir, "litestream-039");
  writeFileSync(fake, "#!/bin/sh\necho v0.3.9\n");
  chmodSync(fake, 0o755);
  const cfg = join(dir, "understudy.yml");
  const yaml = (pin: string) => `nodes: { p: { role: primary, data-dir: ./db } }
store: { type: file, path: ./store }
litestream: { binary: ./litestream-039${pin} }
databases:
  - { name: app.db, tier: P1 }
`;
  writeFileSync(cfg, yaml(""));
  const any = await cli(["validate", "--config", cfg]);
  assert.match(any.stdout, /PASS\s+litestream\s+.*litestream-039 \(litestream\.binary\) is Litestream v0\.3\.9/);
  writeFileSync(cfg, yaml(", version: v0.3.13"));
  const pinned = await cli(["validate", "--config", cfg]);
  assert.equal(pinned.code, 1);
  assert.match(pinned.stdout, /FAIL\s+litestream\s+.*is Litestream v0\.3\.9, but litestream\.version pins v0\.3\.13/);
});
