/**
 * A stand-in for Bitwarden's CLI (`bw`), following its documented behaviour (bitwarden.com/help/cli): `status`
 * prints JSON with "unauthenticated" | "locked" | "unlocked"; `get item TERM` prints the item's JSON, or fails
 * with "Not found.", "More than one result was found. Try getting a specific object by `id` instead. The
 * following objects were found:" and the ids, "Vault is locked." or "You are not logged in."; `unlock
 * --passwordenv VAR --raw` prints a new session key. The session comes from BW_SESSION, as with the real one.
 * Every call is logged (argv and the names of the environment variables it got) so tests can check that no
 * secret travels on a command line.
 *
 *   node bw.js --vault VAULT.json --log CALLS.jsonl ARGS…
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

export interface StandinVault {
  loggedIn: boolean;
  masterPassword: string;
  sessions: string[];
  items: {
    id: string;
    name: string;
    notes?: string | null;
    login?: { username?: string | null; password?: string | null; totp?: string | null };
    fields?: { name: string; value: string; type: number }[];
  }[];
}

function main(): number {
  const argv = process.argv.slice(2);
  const vaultFile = argv[argv.indexOf("--vault") + 1];
  const logFile = argv[argv.indexOf("--log") + 1];
  const args = argv.slice(4);
  appendFileSync(logFile, `${JSON.stringify({ args, env: Object.keys(process.env).sort() })}\n`);
  const vault = JSON.parse(readFileSync(vaultFile, "utf8")) as StandinVault;
  const session = process.env.BW_SESSION;
  const status = !vault.loggedIn
    ? "unauthenticated"
    : session && vault.sessions.includes(session)
      ? "unlocked"
      : "locked";
  const fail = (msg: string) => {
    process.stderr.write(`${msg}\n`);
    return 1;
  };
  if (args[0] === "status") {
    process.stdout.write(
      JSON.stringify({
        serverUrl: null,
        lastSync: "2026-11-30T06:00:00.000Z",
        userEmail: vault.loggedIn ? "forge@alai.example" : undefined,
        userId: vault.loggedIn ? "3f2c0c9e-0000-4000-8000-000000000001" : undefined,
        status,
      }),
    );
    return 0;
  }
  if (args[0] === "unlock") {
    if (!vault.loggedIn) return fail("You are not logged in.");
    const envName = args[args.indexOf("--passwordenv") + 1];
    if (process.env[envName] !== vault.masterPassword) return fail("Invalid master password.");
    const key = randomBytes(32).toString("base64");
    vault.sessions.push(key);
    writeFileSync(vaultFile, JSON.stringify(vault));
    process.stdout.write(args.includes("--raw") ? key : `Your vault is now unlocked!\nexport BW_SESSION="${key}"\n`);
    return 0;
  }
  if (args[0] === "get" && args[1] === "item") {
    if (status === "unauthenticated") return fail("You are not logged in.");
    if (status === "locked") return fail("Vault is locked.");
    const term = args[2] ?? "";
    const byId = vault.items.filter((i) => i.id === term);
    const found = byId.length ? byId : vault.items.filter((i) => i.name.toLowerCase().includes(term.toLowerCase()));
    if (!found.length) return fail("Not found.");
    if (found.length > 1)
      return fail(
        `More than one result was found. Try getting a specific object by \`id\` instead. The following objects were found:\n${found.map((i) => i.id).join("\n")}`,
      );
    process.stdout.write(JSON.stringify({ object: "item", type: 1, ...found[0] }));
    return 0;
  }
  return fail(`unknown command ${args.join(" ")}`);
}

if (require.main === module) process.exitCode = main();
