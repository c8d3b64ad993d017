import { isScalar, isSeq } from "yaml";
import { parseSecretRef, type SecretRef, secretChain } from "./secretRef";
import type { MapReader } from "./yamlReader";

/**
 * Reads a field that must hold a secret reference — or a list of them, tried in order (`[bitwarden:ITEM,
 * file:/etc/understudy/break-glass]`) — rejecting (and never echoing) a literal secret.
 */
export function secret(r: MapReader, key: string, required = false): SecretRef | undefined {
  const raw = r.raw(key);
  if (isSeq(raw)) {
    const refs: SecretRef[] = [];
    raw.items.forEach((item, i) => {
      const text = isScalar(item) && typeof item.value === "string" ? item.value : undefined;
      const ref = text === undefined ? "each entry must be a secret reference" : parseSecretRef(text);
      if (typeof ref === "string") r.ctx.report(item as never, `${r.field(key)}[${i}]`, literalNote(ref));
      else refs.push(ref);
    });
    if (!raw.items.length) r.ctx.report(raw, r.field(key), "an empty list: give at least one secret reference");
    return refs.length === raw.items.length && refs.length ? secretChain(refs) : undefined;
  }
  const text = r.str(key, required);
  if (text === undefined) return undefined;
  const ref = parseSecretRef(text);
  if (typeof ref === "string") {
    r.ctx.report(r.raw(key), r.field(key), literalNote(ref));
    return undefined;
  }
  return ref;
}

/** A value where a reference belongs is most likely the secret itself: say why it is refused. */
function literalNote(message: string): string {
  return /is not a secret reference/.test(message)
    ? `${message} (a secret's value never belongs in the config file)`
    : message;
}
