import { join } from "node:path";
import { selectNode } from "../../config/load";
import type { DiscoveryKind } from "../../config/opsConfig";
import type { UnderstudyConfig } from "../../config/types";
import { CommandHookProvider } from "./commandHook";
import { DnsRecordsProvider } from "./dnsRecords";
import { HostsFileProvider } from "./hostsFile";
import { DiscoveryError, type DiscoveryProvider } from "./provider";

export const DISCOVERY_KINDS: readonly DiscoveryKind[] = ["hosts", "command", "dns"];

/** The DNS responder's records file: discovery.dns.records-file, else in the node's state dir. */
export function dnsRecordsFile(cfg: UnderstudyConfig, nodeName?: string): string {
  return cfg.discovery.dns.recordsFile ?? join(selectNode(cfg, { name: nodeName }).stateDir, "discovery-dns.json");
}

/** The configured provider of a kind; DiscoveryError when the config lacks what it needs. */
export function discoveryProvider(
  cfg: UnderstudyConfig,
  kind: DiscoveryKind,
  o: { hostsFile?: string; node?: string } = {},
): DiscoveryProvider {
  const d = cfg.discovery;
  if (kind === "hosts") return new HostsFileProvider(o.hostsFile ?? d.hostsFile);
  if (kind === "command") {
    if (!d.command)
      throw new DiscoveryError(`${cfg.file}: discovery.command is not set (the script run as COMMAND NAME ADDRESS)`);
    return new CommandHookProvider(d.command);
  }
  return new DnsRecordsProvider(dnsRecordsFile(cfg, o.node), d.dns.zone);
}
