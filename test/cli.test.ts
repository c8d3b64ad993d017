import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { HELP } from "../src/cli/help";
import { cli, ROOT, tempDir } from "./helpers/env";

const readme = readFileSync(join(ROOT, "README.md"), "utf8");

test("the README opens with the two commands a newcomer runs", () => {
  const firstBlocks = [...readme.matchAll(/```sh\n([^`]*)```/g)].slice(0, 2).map((m) => m[1].trim());
  assert.deepEqual(firstBlocks, ["npm install && npx understudy demo", "npm test"]);
});

test("every command's --help matches the README: same usage and the same examples", async () => {
  for (const [cmd, text] of Object.entries(HELP)) {
    if (cmd === "main") continue;
    assert.ok(readme.includes(`### \`understudy ${cmd}`), `README documents ${cmd}`);
    const examples =
      text
        .split("Example:")[1]
        ?.trim()
        .split("\n")
        .map((l) => l.trim()) ?? [];
    assert.ok(examples.length > 0, `${cmd} --help has an example`);
    for (const e of examples) assert.ok(readme.includes(e), `README shows "${e}"`);
    const r = await cli([cmd, "--help"]);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), text.trim());
  }
});

test("unknown commands and flags are bad input (exit 2), with a pointer to help", async () => {
  const a = await cli(["frobnicate"]);
  assert.equal(a.code, 2);
  assert.match(a.stderr, /unknown command "frobnicate"/);
  const b = await cli(["cost", "--frob"]);
  assert.equal(b.code, 2);
  assert.match(b.stderr, /Unknown option '--frob'.*See understudy cost --help/);
});

test("init writes a starter that validates; it refuses to overwrite", async (t) => {
  const dir = tempDir(t, "init");
  const r = await cli(["init"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const v = await cli(["validate", "--config", join(dir, "understudy.yml")]);
  assert.match(v.stdout, /PASS\s+config/);
  assert.match(v.stdout, /PASS\s+litestream\s+.* \(bundled\) is Litestream v0\.3\.13/);
  assert.equal(v.code, 0, v.stdout);
  const again = await cli(["init"], { cwd: dir });
  assert.equal(again.code, 2);
});

test("--version prints the package's version", async () => {
  const r = await cli(["--version"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
});
