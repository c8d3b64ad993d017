import { secret } from "./secretField";
import type { SecretRef } from "./secretRef";
import type { MapReader } from "./yamlReader";

/** The node's health endpoint (the plan's :8099). */
export interface HealthConfig {
  listen: string;
  /** Lag above which a standby's /readiness says not ready (the plan's RPO). */
  readyLag: number;
}

/** The external watcher (plan section 6), run on a third machine or in CI. */
export interface HeartbeatConfig {
  targets: string[];
  interval: number;
  timeout: number;
  /** Consecutive failures before #ops hears about it (the plan: 2). */
  alertAfter: number;
  /** Consecutive failures before the escalation channel hears about it (the plan: 5). */
  escalateAfter: number;
  /** While still down, remind #ops this often (0: never). */
  reminderInterval: number;
  stateFile: string;
  slackWebhook?: SecretRef;
  escalationWebhook?: SecretRef;
}

export type DiscoveryKind = "hosts" | "command" | "dns";

/** How a service name follows the primary (plan section 5). */
export interface DiscoveryConfig {
  names: string[];
  provider: DiscoveryKind;
  hostsFile: string;
  command?: string;
  dns: { listen: string; zone: string; ttl: number; recordsFile?: string };
}

export const DEFAULT_HEALTH: HealthConfig = { listen: "0.0.0.0:8099", readyLag: 60_000 };

export const DEFAULT_HEARTBEAT: HeartbeatConfig = {
  targets: [],
  interval: 60_000,
  timeout: 10_000,
  alertAfter: 2,
  escalateAfter: 5,
  reminderInterval: 30 * 60_000,
  stateFile: "heartbeat-state.json",
};

export const DEFAULT_DISCOVERY: DiscoveryConfig = {
  names: [],
  provider: "hosts",
  hostsFile: "/etc/hosts",
  dns: { listen: "0.0.0.0:53", zone: "alai", ttl: 5000 },
};

export function readHealth(r: MapReader | undefined): HealthConfig {
  const out = {
    listen: r?.listen("listen") ?? DEFAULT_HEALTH.listen,
    readyLag: r?.duration("ready-lag") ?? DEFAULT_HEALTH.readyLag,
  };
  r?.finish();
  return out;
}

export function readHeartbeat(r: MapReader | undefined, abs: (p: string) => string): HeartbeatConfig {
  const d = DEFAULT_HEARTBEAT;
  const state = r?.str("state-file");
  const out: HeartbeatConfig = {
    targets: r?.strList("targets") ?? d.targets,
    interval: r?.duration("interval") ?? d.interval,
    timeout: r?.duration("timeout") ?? d.timeout,
    alertAfter: r?.num("alert-after", { min: 1, integer: true }) ?? d.alertAfter,
    escalateAfter: r?.num("escalate-after", { min: 1, integer: true }) ?? d.escalateAfter,
    reminderInterval: r?.duration("reminder-interval", false, "never reminds") ?? d.reminderInterval,
    stateFile: state ? abs(state) : d.stateFile,
    slackWebhook: r ? secret(r, "slack-webhook") : undefined,
    escalationWebhook: r ? secret(r, "escalation-webhook") : undefined,
  };
  const seq = r?.seq("targets");
  out.targets.forEach((t, i) => {
    if (r && !/^https?:\/\/[^/]/.test(t))
      r.ctx.report(seq?.items[i], `${r.field("targets")}[${i}]`, `"${t}" is not an http(s) URL`);
  });
  if (r && out.escalateAfter < out.alertAfter)
    r.ctx.report(
      r.raw("escalate-after"),
      r.field("escalate-after"),
      "must be at least alert-after: escalation follows the first alert",
    );
  r?.finish();
  return out;
}

export function readDiscovery(r: MapReader | undefined, abs: (p: string) => string): DiscoveryConfig {
  const d = DEFAULT_DISCOVERY;
  const dns = r?.map("dns");
  const records = dns?.str("records-file");
  const command = r?.str("command");
  const out: DiscoveryConfig = {
    names: r?.strList("names") ?? d.names,
    provider: r?.oneOf("provider", ["hosts", "command", "dns"] as const) ?? d.provider,
    hostsFile: r?.str("hosts-file") ?? d.hostsFile,
    command: command ? abs(command) : undefined,
    dns: {
      listen: dns?.listen("listen") ?? d.dns.listen,
      zone: (dns?.str("zone") ?? d.dns.zone).toLowerCase().replace(/\.$/, ""),
      ttl: dns?.duration("ttl", false, "answers are not cached") ?? d.dns.ttl,
      recordsFile: records ? abs(records) : undefined,
    },
  };
  dns?.finish();
  if (r && out.provider === "command" && !out.command)
    r.ctx.report(r.raw("provider"), r.field("command"), "provider: command needs command: /path/to/your/script");
  r?.finish();
  return out;
}
