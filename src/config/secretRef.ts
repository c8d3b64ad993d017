/** A pointer to a secret (env:NAME, file:/path). The value itself never lives in config or output. */
export interface SecretRef {
  scheme: string;
  target: string;
  /** The reference as written, safe to print. */
  text: string;
}

export const SECRET_SCHEMES = ["env", "file"] as const;

export function parseSecretRef(text: string): SecretRef | string {
  const m = /^([a-z]+):(.+)$/.exec(text.trim());
  if (!m) return `"${redact(text)}" is not a secret reference; write env:NAME or file:/path/to/secret`;
  if (!(SECRET_SCHEMES as readonly string[]).includes(m[1]))
    return `unknown secret provider "${m[1]}"; use one of ${SECRET_SCHEMES.map((s) => `${s}:`).join(", ")}`;
  return { scheme: m[1], target: m[2], text: `${m[1]}:${m[2]}` };
}

/** What a value that was meant to be a reference looks like in an error: enough to find it, too little to use it. */
function redact(text: string): string {
  return text.length <= 4 ? "****" : `${text.slice(0, 2)}…(${text.length} chars)`;
}
