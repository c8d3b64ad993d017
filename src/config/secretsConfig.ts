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
  keyvault: {
    /** Where a vault answers; {vault} is the VAULT of keyvault:VAULT/NAME. */
    vaultUrl: string;
    /** A service principal (all three), else the machine's managed identity (clientId: a user-assigned one). */
    tenantId?: string;
    clientId?: string;
    clientSecret?: SecretRef;
    /** Azure AD's host, for sovereign clouds (login.microsoftonline.us) or a private endpoint. */
    authorityHost?: string;
    /**
     * Whether the vault's challenge must name a resource the vault URL is under (the SDK's check against a
     * redirected token). Off only for an address outside the vault's domain: a private endpoint by IP, a test vault.
     */
    checkChallengeResource: boolean;
  };
}

export const DEFAULT_SECRETS: SecretsConfig = {
  cacheTtl: 60_000,
  bitwarden: { cli: "bw", timeout: 30_000 },
  keyvault: { vaultUrl: "https://{vault}.vault.azure.net", checkChallengeResource: true },
};

export function readSecrets(r: MapReader | undefined, abs: (p: string) => string): SecretsConfig {
  const d = DEFAULT_SECRETS;
  const bw = r?.map("bitwarden");
  const kv = r?.map("keyvault");
  const sessionFile = bw?.str("session-file");
  const out: SecretsConfig = {
    cacheTtl: r?.duration("cache-ttl", false, "asks every time") ?? d.cacheTtl,
    bitwarden: {
      cli: bw?.str("cli") ?? d.bitwarden.cli,
      sessionFile: sessionFile ? abs(sessionFile) : undefined,
      password: bw ? secret(bw, "password") : undefined,
      timeout: bw?.duration("timeout") ?? d.bitwarden.timeout,
    },
    keyvault: d.keyvault,
  };
  const vaultUrl = kv?.str("vault-url") ?? d.keyvault.vaultUrl;
  if (kv && !/^https:\/\/[^/\s]+\/?$/.test(vaultUrl.replace("{vault}", "v")))
    kv.ctx.report(
      kv.raw("vault-url") ?? null,
      kv.field("vault-url"),
      `"${vaultUrl}" is not an https base URL such as https://{vault}.vault.azure.net`,
    );
  out.keyvault = {
    vaultUrl,
    tenantId: kv?.str("tenant-id"),
    clientId: kv?.str("client-id"),
    clientSecret: kv ? secret(kv, "client-secret") : undefined,
    authorityHost: kv?.str("authority-host"),
    checkChallengeResource: kv?.bool("check-challenge-resource") ?? d.keyvault.checkChallengeResource,
  };
  if (kv && out.keyvault.clientSecret && !(out.keyvault.tenantId && out.keyvault.clientId))
    kv.ctx.report(
      kv.raw("client-secret") ?? null,
      kv.field("client-secret"),
      "a service principal needs tenant-id and client-id too",
    );
  kv?.finish();
  bw?.finish();
  r?.finish();
  return out;
}
