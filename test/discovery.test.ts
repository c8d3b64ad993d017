import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { test } from "node:test";
import { DnsRecordsProvider } from "../src/failover/discovery/dnsRecords";
import { DnsResponder } from "../src/failover/discovery/dnsServer";
import { cli, tempDir } from "./helpers/env";
import { makeFleet } from "./helpers/fleet";

const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n# operator's own line\n10.0.0.9\tprinter.lan\n";

async function config(t: { after: (fn: () => void) => void }, extra = "") {
  const dir = tempDir(t, "discovery");
  const { file } = await makeFleet(dir, undefined, { create: false });
  const text = readFileSync(file, "utf8")
    .replace("  primary:\n    role: primary\n", "  anvil:\n    role: primary\n    tailscale-address: 100.103.49.98\n")
    .replace("  standby:\n    role: standby\n", "  forge:\n    role: standby\n    tailscale-address: 100.104.164.86\n");
  writeFileSync(file, `${text}\ndiscovery:\n  names: [anvil.alai]\n  hosts-file: ${join(dir, "hosts")}\n${extra}`);
  writeFileSync(join(dir, "hosts"), HOSTS);
  return { dir, file, hosts: join(dir, "hosts") };
}

test("hosts file: a managed block, idempotent, backed up, the rest of the file untouched", async (t) => {
  const { file, hosts } = await config(t);
  const a = await cli(["discovery", "point", "anvil.alai", "--to", "forge", "--config", file]);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /anvil\.alai → 100\.104\.164\.86/);
  const after = readFileSync(hosts, "utf8");
  assert.ok(after.startsWith(HOSTS.trimEnd()), "the operator's lines are kept as they were");
  assert.match(after, /# BEGIN understudy.*\n100\.104\.164\.86\tanvil\.alai\n# END understudy\n$/);
  assert.equal(readFileSync(`${hosts}.understudy.bak`, "utf8"), HOSTS);
  const mtime = statSync(hosts).mtimeMs;
  const again = await cli(["discovery", "point", "anvil.alai", "--to", "forge", "--config", file]);
  assert.match(again.stdout, /already points to 100\.104\.164\.86; unchanged/);
  assert.equal(statSync(hosts).mtimeMs, mtime, "an unchanged pointing does not rewrite the file");
  await cli(["discovery", "point", "anvil.alai", "--to", "anvil", "--config", file]);
  const back = readFileSync(hosts, "utf8");
  assert.equal(back.match(/anvil\.alai/g)?.length, 1, "one entry, replaced in place");
  assert.match(back, /100\.103\.49\.98\tanvil\.alai/);
  const st = await cli(["discovery", "status", "--config", file, "--json"]);
  assert.equal(JSON.parse(st.stdout)[0].hostsFile, "100.103.49.98");
});

test("hosts file: a crash mid-write leaves the old file whole; the next run cleans up and succeeds", async (t) => {
  const { dir, file, hosts } = await config(t);
  chmodSync(hosts, 0o644);
  const before = readFileSync(hosts);
  const crashed = await cli(["discovery", "point", "anvil.alai", "--to", "forge", "--config", file], {
    env: { UNDERSTUDY_FAULT: "hosts-before-rename" },
  });
  assert.notEqual(crashed.code, 0, "the process died");
  assert.deepEqual(readFileSync(hosts), before, "the hosts file is byte-for-byte what it was");
  const temps = () => readdirSync(dir).filter((f) => f.startsWith(`.${basename(hosts)}.understudy-`));
  assert.equal(temps().length, 1, "the temp file the crash left");
  const ok = await cli(["discovery", "point", "anvil.alai", "--to", "forge", "--config", file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(temps().length, 0);
  assert.match(readFileSync(hosts, "utf8"), /100\.104\.164\.86\tanvil\.alai/);
  assert.equal(statSync(hosts).mode & 0o777, 0o644, "mode kept");
});

test("the DNS responder answers through a real DNS client, follows a switch, refuses other zones", async (t) => {
  const dir = tempDir(t, "dns");
  const records = join(dir, "records.json");
  const provider = new DnsRecordsProvider(records, "alai");
  await provider.point("anvil.alai", "100.103.49.98");
  const responder = new DnsResponder(records, "alai", 5);
  const port = await responder.listen("127.0.0.1", 0);
  t.after(() => responder.close());
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([`127.0.0.1:${port}`]);
  assert.deepEqual(await r.resolve4("anvil.alai"), ["100.103.49.98"]);
  const ttl = await r.resolve4("anvil.alai", { ttl: true });
  assert.equal(ttl[0].ttl, 5);
  assert.match(await provider.point("anvil.alai", "100.104.164.86"), /\(was 100\.103\.49\.98\)/);
  await new Promise((res) => setTimeout(res, 300));
  assert.deepEqual(await r.resolve4("ANVIL.alai"), ["100.104.164.86"], "case-insensitive, and the switch is seen");
  await assert.rejects(r.resolve4("forge.alai"), (e: NodeJS.ErrnoException) => e.code === "ENOTFOUND");
  await assert.rejects(r.resolve4("example.com"), (e: NodeJS.ErrnoException) => e.code === "EREFUSED");
  assert.deepEqual(await r.resolve6("anvil.alai").catch((e: NodeJS.ErrnoException) => e.code), "ENODATA");
  await assert.rejects(provider.point("anvil.example.com", "1.2.3.4"), /outside the responder's zone "alai"/);
});

test("command hook: runs the operator's script with the name and address; a failing script is a clear error", async (t) => {
  const scriptDir = tempDir(t, "hook");
  const log = join(scriptDir, "calls.txt");
  const script = join(scriptDir, "point.sh");
  writeFileSync(
    script,
    `#!/bin/sh\necho "$1 $2 $UNDERSTUDY_ADDRESS" >> ${log}\n[ "$1" = "bad.alai" ] && { echo "tailscale api: 403 forbidden" >&2; exit 7; }\necho "switched"\n`,
  );
  chmodSync(script, 0o755);
  const { file } = await config(t, `  provider: command\n  command: ${script}\n`);
  const ok = await cli(["discovery", "point", "anvil.alai", "--to", "forge", "--config", file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /point\.sh anvil\.alai 100\.104\.164\.86: ok \(switched\)/);
  assert.equal(readFileSync(log, "utf8"), "anvil.alai 100.104.164.86 100.104.164.86\n");
  const bad = await cli(["discovery", "point", "bad.alai", "--address", "1.2.3.4", "--config", file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /point\.sh bad\.alai 1\.2\.3\.4: exit 7: tailscale api: 403 forbidden/);
  assert.ok(existsSync(log));
});
