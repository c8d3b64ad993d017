import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../../util/atomic";
import { checkPointing, DiscoveryError, type DiscoveryProvider } from "./provider";

export type DnsRecords = Record<string, string>;

/**
 * The records, {} when the file does not exist yet. A file that is not a JSON object of name → address throws
 * DiscoveryError: read as empty, it would make every name vanish (NXDOMAIN, which resolvers cache) and the next
 * `point` would overwrite the other records.
 */
export function readDnsRecords(file: string): DnsRecords {
  if (!existsSync(file)) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DiscoveryError(`${file}: not valid JSON (${(e as Error).message}); fix or remove it`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v) || Object.values(v).some((a) => typeof a !== "string"))
    throw new DiscoveryError(`${file}: expected an object of name → IPv4 address`);
  return v as DnsRecords;
}

/** The DNS responder answers from this file; pointing a name is rewriting it (atomically). */
export class DnsRecordsProvider implements DiscoveryProvider {
  readonly kind = "dns" as const;

  constructor(
    private readonly file: string,
    private readonly zone: string,
  ) {}

  async point(name: string, address: string): Promise<string> {
    checkPointing(name, address);
    const n = name.toLowerCase().replace(/\.$/, "");
    if (n !== this.zone && !n.endsWith(`.${this.zone}`))
      throw new DiscoveryError(`${name} is outside the responder's zone "${this.zone}" (discovery.dns.zone)`);
    const records = readDnsRecords(this.file);
    if (records[n] === address) return `${this.file}: ${n} already answers ${address}; unchanged`;
    const was = records[n];
    records[n] = address;
    writeFileAtomic(this.file, `${JSON.stringify(records, null, 2)}\n`);
    return `${this.file}: ${n} → ${address}${was ? ` (was ${was})` : ""}; the responder answers it from the next query`;
  }

  async current(name: string): Promise<string | undefined> {
    return readDnsRecords(this.file)[name.toLowerCase().replace(/\.$/, "")];
  }
}
