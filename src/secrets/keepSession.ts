import { chmodSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import type { SecretsConfig } from "../config/secretsConfig";
import { writeFileAtomic } from "../util/atomic";
import { UserError } from "../util/errors";
import { BitwardenSecretProvider, type BitwardenStatus } from "./bitwardenProvider";
import { resolveSecret } from "./resolve";

export interface SessionState {
  status: BitwardenStatus | "error";
  checkedAt: string;
  lastUnlockAt?: string;
  /** What is wrong, and what to do, while the session is not usable. */
  error?: string;
  nextCheckAt?: string;
}

/**
 * The plan's §7.3 on the standby: keeps a Bitwarden session usable without a person, so FORGE reaches its
 * secrets on its own. Checks `bw status` every interval; when the vault is locked, unlocks it with the master
 * password from secrets.bitwarden.password (handed to bw in its environment, never its command line) and writes
 * the new session key to secrets.bitwarden.session-file (0600). It cannot log in for you: when bw is not
 * logged in it says so, keeps checking with backoff, and its state file says what it waits for.
 */
export class SessionKeeper {
  private readonly bw: BitwardenSecretProvider;

  constructor(
    private readonly s: SecretsConfig,
    private readonly stateDir: string,
    private readonly log: Logger,
  ) {
    this.bw = new BitwardenSecretProvider(s.bitwarden);
  }

  get stateFile(): string {
    return join(this.stateDir, "bitwarden-session.json");
  }

  async once(): Promise<SessionState> {
    const now = new Date().toISOString();
    const state: SessionState = { status: "error", checkedAt: now };
    try {
      let st = await this.bw.status();
      if (st === "locked") {
        const file = this.s.bitwarden.sessionFile;
        if (!file)
          throw new UserError(
            "the vault is locked and there is no secrets.bitwarden.session-file to keep a session in",
          );
        if (!this.s.bitwarden.password)
          throw new UserError(
            "the vault is locked and secrets.bitwarden.password names no master password to unlock it with",
          );
        const password = await resolveSecret(this.s.bitwarden.password, "secrets.bitwarden.password");
        const r = await this.bw.run(["unlock", "--passwordenv", "UNDERSTUDY_BW_PASSWORD", "--raw"], {
          UNDERSTUDY_BW_PASSWORD: password,
        });
        const key = r.stdout.trim();
        if (r.code !== 0 || !key || /\s/.test(key))
          throw new UserError(`bw unlock failed: ${(r.stderr || r.stdout).trim().split("\n")[0].slice(0, 200)}`);
        writeFileAtomic(file, key, 0o600);
        chmodSync(file, 0o600);
        state.lastUnlockAt = now;
        this.log.info({ sessionFile: file }, "unlocked the Bitwarden vault; session written");
        st = await this.bw.status();
      }
      state.status = st;
      if (st === "unauthenticated")
        state.error = "bw is not logged in on this machine: run bw login --apikey once; checking again";
      else if (st === "locked")
        state.error = "still locked after unlocking: is secrets.bitwarden.session-file the one the services read?";
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      state.error = e.message;
    }
    if (state.error) this.log.error(state.error);
    writeFileAtomic(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
    return state;
  }

  /** Checks every `intervalMs` while usable, backing off from 10 s to the interval while it is not. */
  async run(signal: AbortSignal, intervalMs: number): Promise<void> {
    let wait = 10_000;
    while (!signal.aborted) {
      const s = await this.once();
      const ok = s.status === "unlocked";
      wait = ok ? intervalMs : Math.min(wait * 2, intervalMs);
      await new Promise<void>((r) => {
        const t = setTimeout(r, ok ? intervalMs : wait);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}
