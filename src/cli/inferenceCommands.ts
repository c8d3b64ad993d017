import { existsSync, statSync } from "node:fs";
import pino from "pino";
import { UserError } from "../config/errors";
import { loadRoutingFile } from "../config/inferenceConfig";
import type { InferenceConfig } from "../config/inferenceTypes";
import { DEFAULT_CONFIG_FILE, loadConfig } from "../config/load";
import { readHealthFile } from "../inference/healthFile";
import type { HostHealth } from "../inference/hostHealth";
import { ProxyMetrics } from "../inference/metrics";
import { HealthMonitor } from "../inference/monitor";
import { InferenceProxy } from "../inference/proxy";
import { RouteError, Router } from "../inference/router";
import { resolveSecret } from "../secrets/resolve";
import { formatAge } from "../util/duration";
import { renderTable } from "../util/table";
import { COMMON, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";
import { countArg, durationArg, secretArg } from "./opsArgs";

const SHARED = {
  ...COMMON,
  routing: { type: "string" },
  "health-file": { type: "string" },
  "override-file": { type: "string" },
  tailscale: { type: "boolean", default: false },
} as const;

type Shared = { config?: string; routing?: string; "health-file"?: string; "override-file"?: string };

/** Hosts and rules from --routing (the plan's tier-routing.json) or the inference: section of the config. */
function inferenceConfig(v: Shared, command: string): InferenceConfig {
  if (v.routing) return loadRoutingFile(v.routing);
  const file = v.config ?? DEFAULT_CONFIG_FILE;
  if (!existsSync(file) && file === DEFAULT_CONFIG_FILE) {
    throw new UserError(
      `${command.replace(/^inference /, "")}: pass --routing tier-routing.json (the plan's file) or --config understudy.yml`,
    );
  }
  const cfg = loadConfig(file);
  if (!cfg.inference) {
    throw new UserError(
      `${file}: has no inference: section; add one (see README, "Inference failover") or pass --routing FILE`,
    );
  }
  return cfg.inference;
}

const MONITOR_OPTS = {
  interval: { type: "string" },
  "fail-after": { type: "string" },
  "recover-after": { type: "string" },
} as const;

function applyMonitorOpts(
  cfg: InferenceConfig,
  v: Shared & { interval?: string; "fail-after"?: string; "recover-after"?: string },
) {
  cfg.monitor.interval = durationArg(v.interval, "interval", true) ?? cfg.monitor.interval;
  cfg.monitor.failAfter = countArg(v["fail-after"], "fail-after") ?? cfg.monitor.failAfter;
  cfg.monitor.recoverAfter = countArg(v["recover-after"], "recover-after") ?? cfg.monitor.recoverAfter;
  if (v["override-file"]) cfg.monitor.overrideFile = v["override-file"];
}

function healthRows(health: Map<string, HostHealth>): string[][] {
  const rows = [["HOST", "STATE", "LATENCY", "MODELS", "SINCE", "LAST ERROR"]];
  for (const [name, h] of health) {
    rows.push([
      name,
      `${h.healthy ? "healthy" : "UNHEALTHY"}${h.override ? " (override)" : ""}`,
      h.latencyMs === undefined ? "-" : `${h.latencyMs} ms`,
      String(h.models.length),
      h.since ? formatAge(Date.now() - Date.parse(h.since)) : "-",
      h.lastError ?? "",
    ]);
  }
  return rows;
}

async function monitorCommand(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    { ...SHARED, ...MONITOR_OPTS, once: { type: "boolean", default: false } },
    "inference monitor",
  );
  const cfg = inferenceConfig(v, "inference monitor");
  applyMonitorOpts(cfg, v);
  const healthFile = v["health-file"] ?? cfg.monitor.healthFile;
  const log = v.once ? pino({ level: "silent" }) : daemonLog({ role: "inference-monitor" });
  const monitor = new HealthMonitor(cfg, {
    log,
    tailscale: v.tailscale,
    healthFile,
    overrideFile: cfg.monitor.overrideFile,
  });
  if (v.once) {
    // A cron-style run continues the counts of the last one, so hysteresis holds across runs.
    if (existsSync(healthFile)) monitor.seed(safeRead(healthFile));
    await monitor.checkAll();
    const health = monitor.snapshot();
    if (v.json) printJson(Object.fromEntries(health));
    else console.log(`${renderTable(healthRows(health))}\nwrote ${healthFile}`);
    return [...health.values()].every((h) => h.healthy) ? 0 : 1;
  }
  log.info({ hosts: cfg.hosts.map((h) => h.name), interval: cfg.monitor.interval, healthFile }, "monitoring");
  void monitor.start();
  await untilSignal();
  await monitor.stop();
  return 0;
}

function safeRead(file: string): Map<string, HostHealth> {
  try {
    return readHealthFile(file);
  } catch {
    return new Map();
  }
}

async function proxyCommand(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    {
      ...SHARED,
      ...MONITOR_OPTS,
      listen: { type: "string" },
      token: { type: "string" },
      "claude-key": { type: "string" },
    },
    "inference proxy",
  );
  const cfg = inferenceConfig(v, "inference proxy");
  applyMonitorOpts(cfg, v);
  cfg.proxy.token = secretArg(v.token, "token") ?? cfg.proxy.token;
  cfg.claude.apiKey = secretArg(v["claude-key"], "claude-key") ?? cfg.claude.apiKey;
  const listen = v.listen ?? cfg.proxy.listen;
  const { host, port } = listenAddress(listen, "--listen");
  const token = cfg.proxy.token ? await resolveSecret(cfg.proxy.token, "inference.proxy.token") : undefined;
  const log = daemonLog({ role: "inference-proxy" });
  // Only a proxy asked to (--health-file) writes the plan's file, so it never fights a separate monitor over it.
  const monitor = new HealthMonitor(cfg, {
    log,
    tailscale: v.tailscale,
    healthFile: v["health-file"],
    overrideFile: cfg.monitor.overrideFile,
  });
  let key: Promise<string> | undefined;
  const proxy = new InferenceProxy({
    cfg,
    monitor,
    router: new Router(cfg, v.tailscale),
    metrics: new ProxyMetrics(),
    log,
    token,
    claudeKey: () => {
      key ??= resolveSecret(cfg.claude.apiKey, "inference.claude.api-key").catch((e) => {
        key = undefined;
        throw e;
      });
      return key;
    },
  });
  await monitor.start();
  const addr = await proxy.listen(host, port).catch((e: Error) => {
    throw new UserError(`--listen ${listen}: ${e.message}`);
  });
  log.info(
    { listen: `${addr.address}:${addr.port}`, hosts: cfg.hosts.map((h) => h.name), token: token ? "required" : "none" },
    "proxy listening",
  );
  await untilSignal();
  log.info("stopping");
  await proxy.close();
  await monitor.stop();
  return 0;
}

async function routeCommand(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    { ...SHARED, tier: { type: "string" }, model: { type: "string" }, endpoint: { type: "string", default: "chat" } },
    "inference route",
  );
  if (!v.model) throw new UserError("--model is required");
  if (!["chat", "generate", "embed"].includes(v.endpoint))
    throw new UserError("--endpoint: one of chat, generate, embed");
  const cfg = inferenceConfig(v, "inference route");
  applyMonitorOpts(cfg, v);
  const file = v["health-file"] ?? cfg.monitor.healthFile;
  // A fresh health file (a monitor runs) is what a proxy would see; otherwise check the hosts now.
  const age = existsSync(file) ? Date.now() - statSync(file).mtimeMs : undefined;
  const fresh = age !== undefined && age <= 3 * cfg.monitor.interval;
  const m = new HealthMonitor(cfg, {
    log: pino({ level: "silent" }),
    tailscale: v.tailscale,
    overrideFile: cfg.monitor.overrideFile,
  });
  if (fresh) m.seed(readHealthFile(file));
  else await m.checkAll();
  const health = m.snapshot();
  const source = fresh
    ? `${file}, written ${formatAge(age)} ago`
    : age !== undefined
      ? `checked now (${file} is stale)`
      : "checked now";
  const capability = v.endpoint === "embed" ? "other" : (v.endpoint as "chat" | "generate");
  try {
    const r = new Router(cfg, v.tailscale).route({ model: v.model, tier: v.tier, capability }, health);
    if (v.json) {
      printJson({ ...r, health: source });
      return r.refusal ? 1 : 0;
    }
    const where = r.targets[0]
      ? r.targets[0].kind === "claude"
        ? `claude ${r.targets[0].model}`
        : `${r.targets[0].host} ${r.targets[0].model} (${r.targets[0].baseUrl})`
      : "nowhere";
    console.log(`${v.tier ? `tier ${v.tier} ` : ""}${v.model} → ${where}${r.failover ? "  [failover]" : ""}`);
    console.log(`why: ${r.reason}`);
    if (r.targets.length > 1)
      console.log(
        `if it cannot connect: ${r.targets
          .slice(1)
          .map((t) => (t.kind === "claude" ? "claude" : `${t.host} ${t.model}`))
          .join(", ")}`,
      );
    console.log(`health: ${source}`);
    return r.refusal ? 1 : 0;
  } catch (e) {
    if (e instanceof RouteError) throw new UserError(e.message);
    throw e;
  }
}

const SUB: Record<string, (argv: string[]) => Promise<number>> = {
  monitor: monitorCommand,
  proxy: proxyCommand,
  route: routeCommand,
};

export async function inferenceCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const run = sub ? SUB[sub] : undefined;
  if (!run)
    throw new UserError(
      `expected monitor, proxy or route${sub ? `, not "${sub}"` : ""}. See understudy inference --help`,
    );
  return run(rest);
}
