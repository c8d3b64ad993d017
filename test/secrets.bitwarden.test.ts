import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bwStandin } from "./helpers/bw";
import { cli, tempDir } from "./helpers/env";
import type { StandinVault } from "./standins/bw";

// Recognisable values: each must never show up anywhere but where it is used.
const ACCOUNT_KEY = "S3CR3T-account-key-7f1d2b9c";
const WEBHOOK = "https://hooks.slack.example/services/T0/B0/S3CR3T-webhook-4c1a";
const BREAK_GLASS = "S3CR3T-break-glass-key-0e8a";
const MASTER = "S3CR3T-master-password-51aa";

function setUp(t: { after: (fn: () => void) => void }) {
  const dir = tempDir(t, "bw");
  const vault: StandinVault = {
    loggedIn: true,
    masterPassword: MASTER,
    sessions: [],
    items: [
      {
        id: "0b4f8a52-1c1e-4f57-9c3a-000000000001",
        name: "alai-backup-writer",
        login: { username: "backup-writer", password: "not-this-one" },
        fields: [{ name: "account-key", value: ACCOUNT_KEY, type: 1 }],
      },
      { id: "0b4f8a52-1c1e-4f57-9c3a-000000000002", name: "slack-ops", login: { password: WEBHOOK } },
      { id: "0b4f8a52-1c1e-4f57-9c3a-000000000003", name: "slack-ops-old", login: { password: "old" } },
    ],
  };
  const { bw, log, setVault } = bwStandin(dir, vault);
  writeFileSync(join(dir, "break-glass"), `${BREAK_GLASS}\n`);
  writeFileSync(join(dir, "master"), `${MASTER}\n`);
  const file = join(dir, "understudy.yml");
  writeFileSync(
    file,
    `version: 1
nodes:
  anvil: { role: primary, data-dir: ${dir}/anvil }
  forge: { role: standby, data-dir: ${dir}/forge }
store:
  type: abs
  account: alaibackups0ebb
  container: system-db-backups
  endpoint: http://127.0.0.1:9/alaibackups0ebb
  account-key: [bitwarden:alai-backup-writer#account-key, file:${dir}/break-glass]
heartbeat:
  slack-webhook: bitwarden:slack-ops-old
  escalation-webhook: bitwarden:no-such-item
secrets:
  bitwarden:
    cli: ${bw}
    session-file: ${dir}/bw-session
    password: file:${dir}/master
databases:
  - { name: a.db, tier: P1 }
`,
  );
  return { dir, file, log, setVault };
}

type Row = { field: string; reference: string; answeredBy?: string; tried: string[]; error?: string };

async function check(file: string, env: NodeJS.ProcessEnv = {}) {
  const r = await cli(["secrets", "check", "--config", file, "--json"], { env: { BW_SESSION: "", ...env } });
  const rows = JSON.parse(r.stdout) as Row[];
  return { r, row: (f: string) => rows.find((x) => x.field === f) as Row };
}

test("bitwarden: locked, unlocked by keep-session, not found, ambiguous, unauthenticated — one clear error each; the break-glass file answers while the vault is locked; no secret on any command line or output", async (t) => {
  const { dir, file, log, setVault } = setUp(t);
  const outputs: string[] = [];

  // Locked (no session yet): Bitwarden says so and what to run; the chain's second layer answers.
  const locked = await check(file);
  outputs.push(locked.r.stdout, locked.r.stderr);
  assert.equal(locked.r.code, 1, "the escalation webhook's item does not exist");
  const key = locked.row("store.account-key");
  assert.equal(key.answeredBy, `file:${dir}/break-glass`);
  assert.match(
    key.tried[0],
    /^bitwarden:alai-backup-writer#account-key: the Bitwarden vault is locked: no session key \(.*bw-session \(missing or empty\)\); run understudy secrets keep-session/,
  );
  assert.match(
    locked.row("heartbeat.slack-webhook").error ?? "",
    /heartbeat.slack-webhook: secret bitwarden:slack-ops-old: the Bitwarden vault is locked/,
  );

  // The session keeper unlocks with the master password (in bw's environment) and writes the session 0600.
  const kept = await cli(["secrets", "keep-session", "--config", file, "--node", "forge", "--once", "--json"], {
    env: { BW_SESSION: "" },
  });
  outputs.push(kept.stdout, kept.stderr);
  assert.equal(kept.code, 0, kept.stderr);
  assert.equal(JSON.parse(kept.stdout).status, "unlocked");
  assert.equal(statSync(join(dir, "bw-session")).mode & 0o777, 0o600);
  const session = readFileSync(join(dir, "bw-session"), "utf8").trim();

  const open = await check(file);
  outputs.push(open.r.stdout, open.r.stderr);
  assert.equal(open.row("store.account-key").answeredBy, "bitwarden:alai-backup-writer#account-key", "Bitwarden first");
  assert.deepEqual(open.row("store.account-key").tried, []);
  assert.equal(open.row("heartbeat.slack-webhook").answeredBy, "bitwarden:slack-ops-old");
  assert.equal(
    open.row("heartbeat.escalation-webhook").error,
    'heartbeat.escalation-webhook: secret bitwarden:no-such-item: no Bitwarden item named or with the id "no-such-item"',
  );

  // Ambiguous: a name two items contain.
  writeFileSync(file, readFileSync(file, "utf8").replace("bitwarden:slack-ops-old", "bitwarden:slack-ops"));
  const amb = await check(file);
  outputs.push(amb.r.stdout, amb.r.stderr);
  assert.match(
    amb.row("heartbeat.slack-webhook").error ?? "",
    /"slack-ops" matches 2 Bitwarden items: name one by its id \(bw list items --search "slack-ops" shows them\)/,
  );

  // Logged out: one error saying to log in once.
  setVault((v) => {
    v.loggedIn = false;
  });
  const out = await check(file);
  outputs.push(out.r.stdout, out.r.stderr);
  assert.match(
    out.row("store.account-key").tried[0],
    /bw is not logged in on this machine: run bw login --apikey once/,
  );
  assert.equal(out.row("store.account-key").answeredBy, `file:${dir}/break-glass`);

  // Nothing secret anywhere: outputs, the command lines bw was run with, state files, a rendered unit.
  const unit = await cli(["render", "systemd", "secrets", "--config", file, "--node", "forge"]);
  assert.equal(unit.code, 0, unit.stderr);
  assert.match(unit.stdout, /ExecStart=.* secrets keep-session --config .* --node forge/);
  outputs.push(unit.stdout, unit.stderr);
  const calls = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { args: string[]; env: string[] });
  assert.ok(
    calls.some((c) => c.args[0] === "unlock" && c.env.includes("UNDERSTUDY_BW_PASSWORD")),
    "the password went in the environment",
  );
  assert.ok(
    calls.every((c) => !c.env.includes("UNDERSTUDY_TEST_AZURITE_KEY")),
    "bw sees only what it needs",
  );
  const states = readdirSync(join(dir, "forge", ".understudy")).map((f) =>
    readFileSync(join(dir, "forge", ".understudy", f), "utf8"),
  );
  const everything = [...outputs, ...calls.map((c) => c.args.join(" ")), ...states].join("\n");
  for (const s of [ACCOUNT_KEY, WEBHOOK, BREAK_GLASS, MASTER, session])
    assert.ok(!everything.includes(s), `leaked: ${s.slice(0, 12)}…`);
  assert.ok(existsSync(join(dir, "forge", ".understudy", "bitwarden-session.json")));
});
