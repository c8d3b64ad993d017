import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../../util/atomic";
import { DiscoveryError, type DiscoveryProvider } from "./provider";

export type DnsRecords = Record<string, string>;

export function readDnsRecords(file: string): DnsRecords {
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as DnsRecords;
  } catch {
    return {};
  }
}

/** The DNS responder answers from this file; pointing a name is rewriting it (atomically). */
export class DnsRecordsProvider implements DiscoveryProvider {
  readonly kind = "dns" as const;

  constructor(
    private readonly file: string,
    private readonly zone: string,
  ) {}

  async point(name: string, address: string): Promise<string> {
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
