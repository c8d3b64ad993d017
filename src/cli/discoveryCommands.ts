import { lookup } from "node:dns/promises";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import type { DiscoveryKind } from "../config/opsConfig";
import type { UnderstudyConfig } from "../config/types";
import { DnsResponder } from "../failover/discovery/dnsServer";
import { DISCOVERY_KINDS, discoveryProvider, dnsRecordsFile } from "../failover/discovery/factory";
import { checkPointing, DiscoveryError } from "../failover/discovery/provider";
import { renderTable } from "../util/table";
import { COMMON, config, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";

function kindArg(text: string | undefined, cfg: UnderstudyConfig): DiscoveryKind {
  if (text === undefined) return cfg.discovery.provider;
  if (!(DISCOVERY_KINDS as readonly string[]).includes(text))
    throw new UserError(`--provider: one of ${DISCOVERY_KINDS.join(", ")}, not "${text}"`);
  return text as DiscoveryKind;
}

async function point(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    argv,
    {
      ...COMMON,
      to: { type: "string" },
      address: { type: "string" },
      provider: { type: "string" },
      "hosts-file": { type: "string" },
    },
    "discovery point",
  );
  const name = positionals[0];
  if (!name || (!v.to && !v.address))
    throw new UserError("usage: understudy discovery point NAME --to NODE [--provider hosts|command|dns]");
  const cfg = config(v);
  const target = v.to ? selectNode(cfg, { name: v.to }) : undefined;
  const address = v.address ?? target?.tailscaleAddress ?? target?.address;
  if (!address)
    throw new UserError(`${cfg.file}: node ${v.to} has no tailscale-address or address to point ${name} at`);
  checkPointing(name, address);
  const p = discoveryProvider(cfg, kindArg(v.provider, cfg), { hostsFile: v["hosts-file"], node: v.node });
  console.log(await p.point(name, address));
  return 0;
}

async function status(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, { ...COMMON, "hosts-file": { type: "string" } }, "discovery status");
  const cfg = config(v);
  const names = positionals.length ? positionals : cfg.discovery.names;
  if (!names.length) throw new UserError(`${cfg.file}: no names to show; list them in discovery.names or pass NAME`);
  const byAddress = new Map<string, string>();
  for (const n of cfg.nodes) for (const a of [n.tailscaleAddress, n.address]) if (a) byAddress.set(a, n.name);
  const hosts = discoveryProvider(cfg, "hosts", { hostsFile: v["hosts-file"] });
  const dns = discoveryProvider(cfg, "dns", { node: v.node });
  const rows = [["NAME", "HOSTS FILE", "DNS RESPONDER", "THIS MACHINE RESOLVES"]];
  const out: Record<string, unknown>[] = [];
  const show = (a?: string) => (a ? `${a}${byAddress.has(a) ? ` (${byAddress.get(a)})` : ""}` : "-");
  for (const name of names) {
    const h = await hosts.current(name).catch(() => undefined);
    const d = await dns.current(name);
    const resolved = await lookup(name, { family: 4 }).then(
      (r) => r.address,
      (e: NodeJS.ErrnoException) => `(${e.code})`,
    );
    rows.push([name, show(h), show(d), show(resolved)]);
    out.push({ name, hostsFile: h, dns: d, resolves: resolved, node: byAddress.get(resolved) });
  }
  if (v.json) printJson(out);
  else console.log(renderTable(rows));
  return 0;
}

async function serveDns(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { ...COMMON, listen: { type: "string" } }, "discovery serve-dns");
  const cfg = config(v);
  const listen = v.listen ?? cfg.discovery.dns.listen;
  const hp = listenAddress(listen, "--listen");
  const file = dnsRecordsFile(cfg, v.node);
  const r = new DnsResponder(file, cfg.discovery.dns.zone, Math.round(cfg.discovery.dns.ttl / 1000));
  const port = await r.listen(hp.host, hp.port).catch((e: Error) => {
    throw new UserError(`--listen ${listen}: ${e.message}${hp.port < 1024 ? " (ports below 1024 need root)" : ""}`);
  });
  const log = daemonLog({ role: "dns" });
  log.info({ listen: `${hp.host}:${port}`, zone: cfg.discovery.dns.zone, records: file }, "DNS responder listening");
  await untilSignal();
  await r.close();
  return 0;
}

export async function discoveryCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const run = sub === "point" ? point : sub === "status" ? status : sub === "serve-dns" ? serveDns : undefined;
  if (run) {
    try {
      return await run(rest);
    } catch (e) {
      // A provider's refusal (a bad name, an unreadable records file) is the user's to fix: one line, exit 2.
      if (e instanceof DiscoveryError) throw new UserError(e.message);
      throw e;
    }
  }
  throw new UserError(
    `expected point, status or serve-dns${sub ? `, not "${sub}"` : ""}. See understudy discovery --help`,
  );
}
