/**
 * A pointer to a secret (env:NAME, file:/path, bitwarden:ITEM[#FIELD], keyvault:VAULT/NAME), or a chain of them
 * tried in order (the plan's layers: Bitwarden first, a break-glass file second). The value itself never lives
 * in config or output.
 */
export interface SecretRef {
  scheme: string;
  target: string;
  /** The reference as written, safe to print. */
  text: string;
  /** scheme "chain": the references tried in order; the first that resolves answers. */
  chain?: SecretRef[];
}

export const SECRET_SCHEMES = ["env", "file", "bitwarden", "keyvault"] as const;

const FORMS = "env:NAME, file:/path/to/secret, bitwarden:ITEM[#FIELD] or keyvault:VAULT/NAME";

export function parseSecretRef(text: string): SecretRef | string {
  const m = /^([a-z]+):(.+)$/.exec(text.trim());
  if (!m) return `"${redact(text)}" is not a secret reference; write ${FORMS}`;
  if (!(SECRET_SCHEMES as readonly string[]).includes(m[1]))
    return `unknown secret provider "${m[1]}"; use one of ${SECRET_SCHEMES.map((s) => `${s}:`).join(", ")}`;
  const [scheme, target] = [m[1], m[2]];
  if (scheme === "bitwarden" && !/^[^#\s][^#]*(#[^#\s]+)?$/.test(target))
    return `"${text}": write bitwarden:ITEM or bitwarden:ITEM#FIELD (an item's name or id; FIELD: password, username, notes, totp or a custom field's name)`;
  if (scheme === "keyvault" && !/^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]\/[A-Za-z0-9-]{1,127}$/.test(target))
    return `"${text}": write keyvault:VAULT/NAME (a vault name of 3-24 letters, digits and hyphens; a secret name of letters, digits and hyphens)`;
  return { scheme, target, text: `${scheme}:${target}` };
}

/** References tried in order, as one. */
export function secretChain(refs: SecretRef[]): SecretRef {
  return refs.length === 1
    ? refs[0]
    : { scheme: "chain", target: "", text: refs.map((r) => r.text).join(" || "), chain: refs };
}

/** What a value that was meant to be a reference looks like in an error: enough to find it, too little to use it. */
function redact(text: string): string {
  return text.length <= 4 ? "****" : `${text.slice(0, 2)}…(${text.length} chars)`;
}
