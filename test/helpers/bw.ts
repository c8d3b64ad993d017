import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StandinVault } from "../standins/bw";

/** The `bw` stand-in behind an executable at DIR/bw, its vault in DIR/vault.json and its call log. */
export function bwStandin(dir: string, vault: StandinVault) {
  const vaultFile = join(dir, "vault.json");
  writeFileSync(vaultFile, JSON.stringify(vault));
  const log = join(dir, "bw-calls.jsonl");
  const bw = join(dir, "bw");
  writeFileSync(
    bw,
    `#!/bin/sh\nexec "${process.execPath}" "${join(__dirname, "..", "standins", "bw.js")}" --vault "${vaultFile}" --log "${log}" "$@"\n`,
  );
  chmodSync(bw, 0o755);
  const setVault = (f: (v: StandinVault) => void) => {
    const v = JSON.parse(readFileSync(vaultFile, "utf8")) as StandinVault;
    f(v);
    writeFileSync(vaultFile, JSON.stringify(v));
  };
  const calls = () =>
    readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { args: string[]; env: string[] });
  return { bw, log, setVault, calls };
}
