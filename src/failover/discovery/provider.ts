import { isIP } from "node:net";

/** Moves a service name (anvil.alai) to another machine's address. One implementation per mechanism. */
export interface DiscoveryProvider {
  readonly kind: "hosts" | "command" | "dns";
  /** Makes NAME resolve to ADDRESS; says what it did. Repeating the same call changes nothing. */
  point(name: string, address: string): Promise<string>;
  /** Where the provider currently points NAME, if it can tell. */
  current(name: string): Promise<string | undefined>;
}

export class DiscoveryError extends Error {}

/**
 * Refuses what no provider may write: NAME must be a DNS name, ADDRESS an IP address. A newline or a tab in
 * either would add lines to a hosts file, arguments to a hook, or records to a zone.
 */
export function checkPointing(name: string, address: string): void {
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  if (name.length > 253 || !name.split(".").every((l) => label.test(l)))
    throw new DiscoveryError(
      `${JSON.stringify(name)} is not a DNS name (letters, digits and hyphens, in dot-separated labels)`,
    );
  if (isIP(address) === 0) throw new DiscoveryError(`${JSON.stringify(address)} is not an IP address`);
}
