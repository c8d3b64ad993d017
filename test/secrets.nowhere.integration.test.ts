import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { AZURITE_KEY } from "../src/demo/azurite";
import { freePort } from "../src/util/net";
import { useAzurite } from "./helpers/azurite";
import { bwStandin } from "./helpers/bw";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET } from "./helpers/fleet";
import { understudyProcess } from "./helpers/standby";

const azurite = useAzurite();

/** Every file under `dir`, as text (binary files too: a secret in one is a leak all the same). */
function allFiles(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (statSync(p).size < 8 << 20) out.push({ path: p, text: readFileSync(p, "latin1") });
    }
  };
  walk(dir);
  return out;
}

test("nothing secret anywhere: the store key from Bitwarden replicates for real, and appears in no log, state file, status, metrics, rendered file or process command line", async (t) => {
  const dir = tempDir(t, "nowhere");
  const container = `nowhere${process.pid}`;
  await azurite.container(container);
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 2), {
    store: { type: "abs", endpoint: azurite.server.endpoint, container, keyEnv: "UNUSED_KEY_ENV" },
  });
  const { bw, calls } = bwStandin(dir, {
    loggedIn: true,
    masterPassword: "S3CR3T-master-password-77",
    sessions: [],
    items: [{ id: "7d2e0000-0000-4000-8000-000000000001", name: "azurite-account", login: { password: AZURITE_KEY } }],
  });
  writeFileSync(join(dir, "master"), "S3CR3T-master-password-77");
  writeFileSync(
    file,
    `${readFileSync(file, "utf8").replace("account-key: env:UNUSED_KEY_ENV", "account-key: [bitwarden:azurite-account, env:UNUSED_KEY_ENV]")}secrets:
  bitwarden:
    cli: ${bw}
    session-file: ${join(dir, "bw-session")}
    password: file:${join(dir, "master")}
`,
  );
  const env = { BW_SESSION: "", UNDERSTUDY_TEST_AZURITE_KEY: "" };
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const r = await cli(args, { env });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  assert.equal((await run(["secrets", "keep-session", "--config", file, "--node", "primary", "--once"])).code, 0);
  const metrics = `127.0.0.1:${await freePort()}`;
  const rep = understudyProcess(t, ["replicate", "--config", file, "--metrics-listen", metrics], env);
  await waitFor(
    "uploads to Azurite with the key from Bitwarden",
    async () => {
      const r = await cli(["status", "--config", file, "--node", "primary", "--json"], { env });
      return (
        r.code === 0 &&
        (JSON.parse(r.stdout) as { databases: { uploads: number }[] }).databases.every((d) => d.uploads > 0)
      );
    },
    60_000,
  );
  // While it runs: every process's command line, the metrics, status, verify, doctor, the rendered files.
  const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  outputs.push(ps, await (await fetch(`http://${metrics}/metrics`)).text());
  await run(["status", "--config", file, "--node", "primary"]);
  await run(["verify", "--config", file, "--shallow"]);
  await run(["validate", "--config", file, "--online"]);
  await run(["secrets", "check", "--config", file]);
  await run(["render", "litestream", "--config", file]);
  await run(["render", "systemd", "replicate", "--config", file]);
  await run(["render", "launchd", "replicate", "--config", file]);
  await run(["render", "prometheus-rules", "--config", file]);
  rep.child.kill("SIGTERM");
  await rep.exited;
  outputs.push(rep.stderr());
  const checked = [
    ...outputs,
    ...calls().map((c) => c.args.join(" ")),
    ...allFiles(dir).map((f) => `${f.path}\n${f.text}`),
  ];
  const leaks = checked.filter((text) => text.includes(AZURITE_KEY) || text.includes("S3CR3T-master-password-77"));
  // The only places the values may be: the stand-in's own vault and the master-password file the test wrote.
  const allowed = leaks.filter((x) => !x.startsWith(join(dir, "vault.json")) && !x.startsWith(join(dir, "master")));
  assert.deepEqual(
    allowed.map((x) => x.split("\n")[0].slice(0, 120)),
    [],
    "the key and the master password appear nowhere else",
  );
  assert.ok(checked.length > 20, `checked ${checked.length} outputs and files`);
});
