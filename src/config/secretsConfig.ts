import { secret } from "./secretField";
import type { SecretRef } from "./secretRef";
import type { MapReader } from "./yamlReader";

/** How the external secret providers are reached (env: and file: need nothing). */
export interface SecretsConfig {
  /** How long a secret from Bitwarden or Key Vault is reused before asking again. */
  cacheTtl: number;
  bitwarden: {
    /** The `bw` CLI (Bitwarden's own, logged in once on this machine). */
    cli: string;
    /** Where the unlocked session key is kept (the plan's ~/.bw-session); BW_SESSION in the environment wins. */
    sessionFile?: string;
    /** The master password, for `understudy secrets keep-session` to unlock with (never on a command line). */
    password?: SecretRef;
    /** How long `bw` may take before it counts as not answering. */
    timeout: number;
  };
}

export const DEFAULT_SECRETS: SecretsConfig = {
  cacheTtl: 60_000,
  bitwarden: { cli: "bw", timeout: 30_000 },
};

export function readSecrets(r: MapReader | undefined, abs: (p: string) => string): SecretsConfig {
  const d = DEFAULT_SECRETS;
  const bw = r?.map("bitwarden");
  const sessionFile = bw?.str("session-file");
  const out: SecretsConfig = {
    cacheTtl: r?.duration("cache-ttl", false, "asks every time") ?? d.cacheTtl,
    bitwarden: {
      cli: bw?.str("cli") ?? d.bitwarden.cli,
      sessionFile: sessionFile ? abs(sessionFile) : undefined,
      password: bw ? secret(bw, "password") : undefined,
      timeout: bw?.duration("timeout") ?? d.bitwarden.timeout,
    },
  };
  bw?.finish();
  r?.finish();
  return out;
}
