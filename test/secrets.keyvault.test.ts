import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { cli, tempDir } from "./helpers/env";
import { startKeyVaultStandin } from "./standins/keyvault";

const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT = "0a1b2c3d-0000-4000-8000-00000000abcd";
const CLIENT_SECRET = "S3CR3T-sp-client-secret-9d0e";
const ACCOUNT_KEY = "S3CR3T-kv-account-key-ab12";

test("keyvault: the service principal signs in through Key Vault's challenge and reads the secret; missing and forbidden secrets and a wrong client secret each give one clear error; no secret in any output", async (t) => {
  const dir = tempDir(t, "kv");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  const kv = await startKeyVaultStandin({
    cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    key: readFileSync(join(dir, "key.pem"), "utf8"),
    tenant: TENANT,
    clientId: CLIENT,
    clientSecret: CLIENT_SECRET,
    secrets: { "azure-account-key": ACCOUNT_KEY },
    forbidden: ["slack-ops-webhook"],
  });
  t.after(() => kv.close());
  writeFileSync(join(dir, "sp-secret"), CLIENT_SECRET);
  const file = join(dir, "understudy.yml");
  const write = (clientSecretFile: string) =>
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
  account-key: keyvault:alai-kv/azure-account-key
heartbeat:
  slack-webhook: keyvault:alai-kv/slack-ops-webhook
  escalation-webhook: keyvault:alai-kv/no-such-secret
secrets:
  keyvault:
    vault-url: ${kv.url}
    authority-host: ${kv.url}
    check-challenge-resource: false   # the stand-in is an IP address, not under the challenge's domain
    tenant-id: ${TENANT}
    client-id: ${CLIENT}
    client-secret: file:${clientSecretFile}
databases:
  - { name: a.db, tier: P1 }
`,
    );
  write(join(dir, "sp-secret"));
  const env = { NODE_EXTRA_CA_CERTS: join(dir, "cert.pem") };
  const r = await cli(["secrets", "check", "--config", file, "--json"], { env });
  const rows = JSON.parse(r.stdout) as { field: string; answeredBy?: string; error?: string }[];
  const row = (f: string) => rows.find((x) => x.field === f);
  assert.equal(row("store.account-key")?.answeredBy, "keyvault:alai-kv/azure-account-key", JSON.stringify(rows));
  assert.match(
    row("heartbeat.slack-webhook")?.error ?? "",
    /this identity may not read "slack-ops-webhook" in the Key Vault alai-kv: give it the Key Vault Secrets User role/,
  );
  assert.match(row("heartbeat.escalation-webhook")?.error ?? "", /no secret "no-such-secret" in the Key Vault alai-kv/);
  assert.ok(
    kv.requests.some((q) => /^\/secrets\/azure-account-key\/?$/.test(q.path) && !q.auth),
    "first asked without a token: the challenge",
  );
  assert.ok(
    kv.requests.some((q) => /^\/secrets\/azure-account-key\/?$/.test(q.path) && q.auth),
    "then with the token",
  );

  writeFileSync(join(dir, "wrong"), "not-the-secret");
  write(join(dir, "wrong"));
  const bad = await cli(["secrets", "check", "--config", file, "--json"], { env });
  const badRows = JSON.parse(bad.stdout) as { field: string; error?: string }[];
  assert.match(
    badRows.find((x) => x.field === "store.account-key")?.error ?? "",
    new RegExp(`cannot sign in to Azure AD as ${CLIENT}`),
  );
  const all = [r.stdout, r.stderr, bad.stdout, bad.stderr].join("\n");
  for (const s of [ACCOUNT_KEY, CLIENT_SECRET]) assert.ok(!all.includes(s), `leaked ${s.slice(0, 10)}…`);
});
