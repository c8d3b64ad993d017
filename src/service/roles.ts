import { resolve } from "node:path";
import type { SecretRef } from "../config/secretRef";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { storeBackend } from "../store/open";

export const ROLES = [
  "run",
  "replicate",
  "follow",
  "inference-monitor",
  "inference-proxy",
  "health",
  "heartbeat",
  "dns",
  "secrets",
] as const;
export type ServiceRole = (typeof ROLES)[number];

export interface ServiceSpec {
  role: ServiceRole;
  label: string;
  description: string;
  /** Program and arguments, absolute paths. */
  argv: string[];
  workingDir: string;
  logDir: string;
  /** Secret references the role resolves at run time, with the config field each comes from. */
  secrets: { field: string; ref: SecretRef }[];
}

/** What each long-running role runs and which secrets it reads, for one node. */
export function serviceSpec(cfg: UnderstudyConfig, node: NodeConfig, role: ServiceRole): ServiceSpec {
  const bin = resolve(__dirname, "..", "..", "..", "bin", "understudy.js");
  const c = ["--config", resolve(cfg.file), "--node", node.name];
  const storeSecrets = storeBackend(cfg.store).secrets();
  const inf = cfg.inference;
  const hb = cfg.heartbeat;
  const table: Record<ServiceRole, { args: string[]; description: string; secrets: ServiceSpec["secrets"] }> = {
    run: {
      args: ["run", ...c],
      description: "the node daemon: replicate or follow as the lease says, switchover and failover",
      secrets: storeSecrets,
    },
    replicate: {
      args: ["replicate", ...c],
      description: "Litestream under supervision (primary)",
      secrets: storeSecrets,
    },
    follow: {
      args: ["follow", ...c],
      description: "live copies of the followed databases (standby)",
      secrets: storeSecrets,
    },
    "inference-monitor": {
      args: ["inference", "monitor", ...c],
      description: "Ollama host health monitor",
      secrets: [],
    },
    "inference-proxy": {
      args: ["inference", "proxy", ...c],
      description: "Ollama-compatible failover proxy",
      secrets: [
        ...(inf ? [{ field: "inference.claude.api-key", ref: inf.claude.apiKey }] : []),
        ...(inf?.proxy.token ? [{ field: "inference.proxy.token", ref: inf.proxy.token }] : []),
      ],
    },
    health: { args: ["health", "serve", ...c], description: "health endpoint (:8099)", secrets: [] },
    heartbeat: {
      args: ["heartbeat", "watch", "--config", resolve(cfg.file)],
      description: "external heartbeat watcher with Slack alerts",
      secrets: [
        ...(hb.slackWebhook ? [{ field: "heartbeat.slack-webhook", ref: hb.slackWebhook }] : []),
        ...(hb.escalationWebhook ? [{ field: "heartbeat.escalation-webhook", ref: hb.escalationWebhook }] : []),
      ],
    },
    dns: { args: ["discovery", "serve-dns", ...c], description: "DNS responder for the failover names", secrets: [] },
    secrets: {
      args: ["secrets", "keep-session", ...c],
      description: "keeps the Bitwarden session unlocked (plan section 7.3)",
      secrets: cfg.secrets.bitwarden.password
        ? [{ field: "secrets.bitwarden.password", ref: cfg.secrets.bitwarden.password }]
        : [],
    },
  };
  const t = table[role];
  return {
    role,
    label: `com.understudy.${role}`,
    description: `understudy ${role} on ${node.name}: ${t.description}`,
    argv: [process.execPath, bin, ...t.args],
    workingDir: node.stateDir,
    logDir: resolve(node.stateDir, "logs"),
    secrets: t.secrets,
  };
}
