import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import { DEFAULT_SECRETS, type SecretsConfig } from "../config/secretsConfig";
import { BitwardenSecretProvider } from "./bitwardenProvider";
import { EnvSecretProvider } from "./envProvider";
import { FileSecretProvider } from "./fileProvider";
import { KeyVaultSecretProvider } from "./keyvaultProvider";
import type { SecretProvider } from "./provider";

let settings: SecretsConfig = DEFAULT_SECRETS;
let providers: SecretProvider[] = build(settings);
/** Answers of remote providers (a `bw` run costs a second), kept for secrets.cache-ttl. */
const cache = new Map<string, { value: string; until: number }>();
const REMOTE = new Set(["bitwarden", "keyvault"]);

function build(s: SecretsConfig): SecretProvider[] {
  return [
    new EnvSecretProvider(),
    new FileSecretProvider(),
    new BitwardenSecretProvider(s.bitwarden),
    new KeyVaultSecretProvider(s.keyvault, resolveSecret),
  ];
}

/** Points the providers at the config's `secrets:` settings (called once the config is loaded). */
export function configureSecrets(s: SecretsConfig): void {
  settings = s;
  providers = build(s);
  cache.clear();
}

export interface ResolvedSecret {
  value: string;
  /** The reference that answered: which layer of a chain. */
  from: string;
  /** Layers tried before it, and why each did not answer. */
  tried: { ref: string; error: string }[];
}

async function resolveOne(ref: SecretRef): Promise<string> {
  const hit = cache.get(ref.text);
  if (hit && hit.until > Date.now()) return hit.value;
  const p = providers.find((x) => x.scheme === ref.scheme);
  if (!p) throw new UserError(`no provider for secret ${ref.text}`);
  const value = await p.resolve(ref);
  if (REMOTE.has(ref.scheme) && settings.cacheTtl > 0)
    cache.set(ref.text, { value, until: Date.now() + settings.cacheTtl });
  return value;
}

/** Resolves a reference, or the first layer of a chain that answers, saying which did. */
export async function resolveSecretFrom(ref: SecretRef, field: string): Promise<ResolvedSecret> {
  const refs = ref.chain ?? [ref];
  const tried: ResolvedSecret["tried"] = [];
  for (const r of refs) {
    try {
      return { value: await resolveOne(r), from: r.text, tried };
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      tried.push({ ref: r.text, error: e.message.replace(/^secret \S+: /, "") });
    }
  }
  throw new UserError(
    refs.length > 1
      ? `${field}: no layer answered: ${tried.map((t) => `${t.ref}: ${t.error}`).join("; ")}`
      : `${field}: secret ${refs[0].text}: ${tried[0].error}`,
  );
}

export async function resolveSecret(ref: SecretRef, field: string): Promise<string> {
  return (await resolveSecretFrom(ref, field)).value;
}
