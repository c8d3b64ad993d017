import { parseSecretRef, type SecretRef } from "./secretRef";
import type { MapReader } from "./yamlReader";

/** Reads a field that must hold a secret reference, rejecting (and never echoing) a literal secret. */
export function secret(r: MapReader, key: string, required = false): SecretRef | undefined {
  const text = r.str(key, required);
  if (text === undefined) return undefined;
  const ref = parseSecretRef(text);
  if (typeof ref === "string") {
    r.ctx.report(r.raw(key), r.field(key), `${ref} (a secret's value never belongs in the config file)`);
    return undefined;
  }
  return ref;
}
