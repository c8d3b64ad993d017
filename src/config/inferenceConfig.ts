import { existsSync, readFileSync } from "node:fs";
import { ConfigError, UserError } from "./errors";
import {
  DEFAULT_CLAUDE,
  DEFAULT_HEALTH_PATH,
  DEFAULT_HEALTH_TIMEOUT,
  DEFAULT_MONITOR,
  DEFAULT_PROXY,
} from "./inferenceDefaults";
import type { FailoverRule, InferenceConfig, InferenceHost } from "./inferenceTypes";
import { secret } from "./secretField";
import { MapReader, YamlContext } from "./yamlReader";

function stringMap(r: MapReader | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!r) return out;
  for (const k of r.keys()) {
    const v = r.str(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function checkUrl(r: MapReader, key: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    const u = new URL(value);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    return value.replace(/\/+$/, "");
  } catch {
    r.ctx.report(r.raw(key), r.field(key), `"${value}" is not an http:// or https:// URL`);
    return undefined;
  }
}

/** The rule's name says whose outage it covers: `anvil-down` → anvil. */
function downHost(r: MapReader, name: string, hosts: InferenceHost[]): string | undefined {
  const m = /^(.+)-down$/.exec(name);
  const host = m?.[1];
  if (host && hosts.some((h) => h.name === host)) return host;
  r.ctx.report(
    r.keyNode(name) ?? r.node,
    r.field(name),
    `a failover rule is named HOST-down after a configured host (${hosts.map((h) => `${h.name}-down`).join(", ")})`,
  );
  return undefined;
}

function crossCheck(r: MapReader, hosts: InferenceHost[], rules: FailoverRule[]): void {
  const owner = new Map<string, string>();
  for (const h of hosts) {
    for (const t of h.tiers) {
      const prev = owner.get(t);
      if (prev && prev !== h.name) r.ctx.report(r.node, r.path, `tier "${t}" is owned by both ${prev} and ${h.name}`);
      owner.set(t, h.name);
    }
  }
  for (const rule of rules) {
    if (rule.to.kind === "host" && rule.to.host === rule.down)
      r.ctx.report(r.node, `${r.path}.${rule.name}`, `fails over to the host that is down (${rule.down})`);
  }
}

/** The `inference:` section of understudy.yml. */
export function readInference(r: MapReader, file: string): InferenceConfig {
  const hosts: InferenceHost[] = [];
  const hm = r.map("hosts", true);
  for (const name of hm?.keys() ?? []) {
    const h = MapReader.of(r.ctx, hm?.raw(name), hm?.field(name) ?? name);
    if (!h) continue;
    hosts.push({
      name,
      url: checkUrl(h, "url", h.str("url", true)) ?? "",
      tailscaleUrl: checkUrl(h, "tailscale-url", h.str("tailscale-url")),
      healthPath: h.str("health-path") ?? DEFAULT_HEALTH_PATH,
      healthTimeout: h.duration("health-timeout") ?? DEFAULT_HEALTH_TIMEOUT,
      role: h.str("role"),
      tiers: h.strList("tiers") ?? [],
    });
    h.finish();
  }
  const rules: FailoverRule[] = [];
  const fm = r.map("failover");
  for (const name of fm?.keys() ?? []) {
    const f = fm && MapReader.of(r.ctx, fm.raw(name), fm.field(name));
    if (!f || !fm) continue;
    const down = downHost(fm, name, hosts);
    const to = f.str("to", true);
    const models = stringMap(f.map("models"));
    const tiers = f.strList("tiers") ?? hosts.find((h) => h.name === down)?.tiers ?? [];
    const note = f.str("note");
    if (to !== undefined && to !== "claude" && !hosts.some((h) => h.name === to))
      f.ctx.report(f.raw("to"), f.field("to"), `"${to}" is neither a configured host nor claude`);
    f.finish();
    if (down && to)
      rules.push({
        name,
        down,
        tiers,
        note,
        to: to === "claude" ? { kind: "claude" } : { kind: "host", host: to, models },
      });
  }
  const c = r.map("claude");
  const claude = {
    apiKey: (c && secret(c, "api-key")) ?? DEFAULT_CLAUDE.apiKey,
    baseUrl: (c && checkUrl(c, "base-url", c.str("base-url"))) ?? DEFAULT_CLAUDE.baseUrl,
    model: c?.str("model") ?? DEFAULT_CLAUDE.model,
    models: stringMap(c?.map("models")),
    maxTokens: c?.num("max-tokens", { min: 1, integer: true }) ?? DEFAULT_CLAUDE.maxTokens,
    timeout: c?.duration("timeout") ?? DEFAULT_CLAUDE.timeout,
  };
  c?.finish();
  const m = r.map("monitor");
  const monitor = {
    interval: m?.duration("interval") ?? DEFAULT_MONITOR.interval,
    failAfter: m?.num("fail-after", { min: 1, integer: true }) ?? DEFAULT_MONITOR.failAfter,
    recoverAfter: m?.num("recover-after", { min: 1, integer: true }) ?? DEFAULT_MONITOR.recoverAfter,
    healthFile: m?.str("health-file") ?? DEFAULT_MONITOR.healthFile,
    overrideFile: m?.str("override-file") ?? DEFAULT_MONITOR.overrideFile,
  };
  m?.finish();
  const p = r.map("proxy");
  const proxy = {
    listen: p?.listen("listen") ?? DEFAULT_PROXY.listen,
    token: p ? secret(p, "token") : undefined,
    responseTimeout: p?.duration("response-timeout") ?? DEFAULT_PROXY.responseTimeout,
    connectTimeout: p?.duration("connect-timeout") ?? DEFAULT_PROXY.connectTimeout,
    idleTimeout: p?.duration("idle-timeout") ?? DEFAULT_PROXY.idleTimeout,
    maxBodyBytes: p?.size("max-body") ?? DEFAULT_PROXY.maxBodyBytes,
  };
  p?.finish();
  r.finish();
  crossCheck(r, hosts, rules);
  return { source: file, hosts, rules, claude, monitor, proxy };
}

/**
 * The plan's tier-routing.json, read verbatim: `ollamaHosts` and `failoverRules` (with `redirect_<host>_tiers`,
 * `to_<host>_models`, `to_claude`). Everything else in the file belongs to its other readers and is left alone.
 * JSON is YAML, so the same reader gives line numbers in errors.
 */
export function loadRoutingFile(file: string): InferenceConfig {
  if (!existsSync(file)) throw new UserError(`${file}: no such routing file (the plan's tier-routing.json)`);
  const ctx = new YamlContext(file, readFileSync(file, "utf8"));
  const top = ctx.problems.length ? undefined : MapReader.of(ctx, ctx.root, "");
  if (!top) throw new ConfigError(ctx.problems);
  const hosts: InferenceHost[] = [];
  const hm = top.map("ollamaHosts", true);
  for (const name of hm?.keys() ?? []) {
    const h = hm && MapReader.of(ctx, hm.raw(name), hm.field(name));
    if (!h) continue;
    const timeout = h.num("health_timeout_ms", { min: 1 });
    hosts.push({
      name,
      url: checkUrl(h, "url", h.str("url", true)) ?? "",
      tailscaleUrl: checkUrl(h, "tailscale_url", h.str("tailscale_url")),
      healthPath: h.str("health_path") ?? DEFAULT_HEALTH_PATH,
      healthTimeout: timeout ?? DEFAULT_HEALTH_TIMEOUT,
      role: h.str("role"),
      tiers: [],
    });
    h.finish();
  }
  const rules: FailoverRule[] = [];
  const fm = top.map("failoverRules");
  for (const name of fm?.keys() ?? []) {
    const f = fm && MapReader.of(ctx, fm.raw(name), fm.field(name));
    if (!f || !fm) continue;
    const down = downHost(fm, name, hosts);
    const tiers = down ? (f.strList(`redirect_${down}_tiers`) ?? []) : [];
    const host = down ? hosts.find((h) => h.name === down) : undefined;
    if (host) host.tiers = tiers;
    const mapKey = f.keys().find((k) => /^to_.+_models$/.test(k));
    const toHost = mapKey ? /^to_(.+)_models$/.exec(mapKey)?.[1] : undefined;
    const toClaude = f.bool("to_claude") ?? false;
    const models = mapKey ? stringMap(f.map(mapKey)) : {};
    const note = f.str("note");
    if (toHost && !hosts.some((h) => h.name === toHost))
      ctx.report(f.keyNode(mapKey ?? ""), f.field(mapKey ?? ""), `"${toHost}" is not one of ollamaHosts`);
    if (!toHost && !toClaude)
      ctx.report(f.node, f.path, "says neither where to send the requests (to_<host>_models) nor to_claude: true");
    // With the rule's host unknown its redirect_<host>_tiers key cannot be asked for; it is not a second error.
    f.finish(f.keys().filter((k) => /^redirect_.+_tiers$/.test(k)));
    if (!down || (!toHost && !toClaude)) continue;
    rules.push({
      name,
      down,
      tiers,
      note,
      to: toHost ? { kind: "host", host: toHost, models } : { kind: "claude" },
    });
  }
  crossCheck(top, hosts, rules);
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const claudeUrl = process.env.ANTHROPIC_BASE_URL?.replace(/\/+$/, "");
  return {
    source: file,
    hosts,
    rules,
    claude: { ...DEFAULT_CLAUDE, baseUrl: claudeUrl || DEFAULT_CLAUDE.baseUrl },
    monitor: { ...DEFAULT_MONITOR },
    proxy: { ...DEFAULT_PROXY },
  };
}
