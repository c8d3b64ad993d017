import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import type { SecretsConfig } from "../config/secretsConfig";
import type { SecretProvider } from "./provider";

/** What `bw status` says (bitwarden.com/help/cli: "status"). */
export type BitwardenStatus = "unauthenticated" | "locked" | "unlocked";

interface BwItem {
  id: string;
  name: string;
  notes?: string | null;
  login?: { username?: string | null; password?: string | null; totp?: string | null } | null;
  fields?: { name: string; value: string | null }[] | null;
}

/** The variables `bw` may need from the parent; nothing else of this process's environment reaches it. */
const BW_ENV = [
  "PATH",
  "HOME",
  "TMPDIR",
  "LANG",
  "BITWARDENCLI_APPDATA_DIR",
  "NODE_EXTRA_CA_CERTS",
  "HTTPS_PROXY",
  "NO_PROXY",
];

/**
 * `bitwarden:ITEM` and `bitwarden:ITEM#FIELD` through Bitwarden's own CLI, logged in once on this machine (the
 * plan's §7: FORGE unlocks its own vault). The session key comes from BW_SESSION, else the session file, and is
 * passed to `bw` in its environment, never on its command line; the secret comes back on its stdout and goes
 * nowhere else. Each failure (not logged in, locked, no such item, several items of that name) is one error
 * saying what to run.
 */
export class BitwardenSecretProvider implements SecretProvider {
  readonly scheme = "bitwarden";

  constructor(
    private readonly o: SecretsConfig["bitwarden"],
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** The session key, and where it came from (for messages). */
  session(): { key?: string; from: string } {
    if (this.env.BW_SESSION) return { key: this.env.BW_SESSION, from: "BW_SESSION" };
    const f = this.o.sessionFile;
    if (f && existsSync(f)) {
      const key = readFileSync(f, "utf8").trim();
      if (key) return { key, from: f };
    }
    return { from: f ? `${f} (missing or empty)` : "nowhere: set BW_SESSION or secrets.bitwarden.session-file" };
  }

  run(
    args: string[],
    extraEnv: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const env: NodeJS.ProcessEnv = { BW_NOINTERACTION: "true", ...extraEnv };
    for (const k of BW_ENV) if (this.env[k] !== undefined) env[k] = this.env[k];
    const key = this.session().key;
    if (key) env.BW_SESSION = key;
    return new Promise((resolve, reject) =>
      execFile(this.o.cli, args, { env, timeout: this.o.timeout, maxBuffer: 16 << 20 }, (e, stdout, stderr) => {
        const err = e as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (err?.code === "ENOENT")
          return reject(
            new UserError(
              `the Bitwarden CLI is not at "${this.o.cli}" (secrets.bitwarden.cli): install it (npm install -g @bitwarden/cli) and run bw login --apikey once`,
            ),
          );
        if (err?.killed)
          return reject(
            new UserError(`bw did not answer in ${Math.round(this.o.timeout / 1000)}s (secrets.bitwarden.timeout)`),
          );
        resolve({ code: typeof err?.code === "number" ? err.code : err ? 1 : 0, stdout, stderr });
      }),
    );
  }

  async status(): Promise<BitwardenStatus> {
    const r = await this.run(["status"]);
    try {
      const s = (JSON.parse(r.stdout) as { status?: string }).status;
      if (s === "unauthenticated" || s === "locked" || s === "unlocked") return s;
    } catch {
      // not JSON: said below
    }
    throw new UserError(`bw status answered something else than its JSON: ${firstLine(r.stderr || r.stdout)}`);
  }

  private locked(): UserError {
    const s = this.session();
    return new UserError(
      `the Bitwarden vault is locked: ${s.key ? `the session from ${s.from} is not (or no longer) valid` : `no session key (${s.from})`}; run understudy secrets keep-session (or bw unlock --raw > the session file)`,
    );
  }

  async resolve(ref: SecretRef): Promise<string> {
    const hash = ref.target.lastIndexOf("#");
    const [item, field] = hash > 0 ? [ref.target.slice(0, hash), ref.target.slice(hash + 1)] : [ref.target, "password"];
    const st = await this.status();
    if (st === "unauthenticated")
      throw new UserError(
        "bw is not logged in on this machine: run bw login --apikey once (with BW_CLIENTID and BW_CLIENTSECRET of the machine's API key)",
      );
    if (st === "locked") throw this.locked();
    const r = await this.run(["get", "item", item]);
    if (r.code !== 0) {
      const msg = (r.stderr || r.stdout).trim();
      if (/^Not found\./.test(msg)) throw new UserError(`no Bitwarden item named or with the id "${item}"`);
      if (/^More than one result was found/.test(msg)) {
        const n = msg
          .split("\n")
          .slice(1)
          .filter((l) => l.trim()).length;
        throw new UserError(
          `"${item}" matches ${n || "several"} Bitwarden items: name one by its id (bw list items --search "${item}" shows them)`,
        );
      }
      if (/Vault is locked/.test(msg)) throw this.locked();
      if (/not logged in/i.test(msg))
        throw new UserError("bw is not logged in on this machine: run bw login --apikey once");
      throw new UserError(`bw get item failed: ${firstLine(msg)}`);
    }
    let it: BwItem;
    try {
      it = JSON.parse(r.stdout) as BwItem;
    } catch {
      throw new UserError("bw get item did not answer with an item");
    }
    const value =
      field === "password"
        ? it.login?.password
        : field === "username"
          ? it.login?.username
          : field === "totp"
            ? it.login?.totp
            : field === "notes"
              ? it.notes
              : it.fields?.find((f) => f.name === field)?.value;
    if (!value) throw new UserError(`the Bitwarden item "${it.name}" has no ${field}`);
    return value;
  }
}

/** A line of bw's output for an error: never a secret (bw prints errors, not values, on failure), and short. */
function firstLine(s: string): string {
  return s.trim().split("\n")[0].slice(0, 200);
}
