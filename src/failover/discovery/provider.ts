/** Moves a service name (anvil.alai) to another machine's address. One implementation per mechanism. */
export interface DiscoveryProvider {
  readonly kind: "hosts" | "command" | "dns";
  /** Makes NAME resolve to ADDRESS; says what it did. Repeating the same call changes nothing. */
  point(name: string, address: string): Promise<string>;
  /** Where the provider currently points NAME, if it can tell. */
  current(name: string): Promise<string | undefined>;
}

export class DiscoveryError extends Error {}
