import type { FailoverRule, InferenceConfig, InferenceHost } from "../config/inferenceTypes";
import type { HostHealth } from "./hostHealth";
import { hostUrl } from "./monitor";

/** What kind of work a request is: Claude can take chat and generate, nothing else. */
export type Capability = "chat" | "generate" | "other";

export type Target =
  | { kind: "ollama"; host: string; baseUrl: string; model: string }
  | { kind: "claude"; model: string };

export interface RouteRequest {
  model: string;
  tier?: string;
  capability: Capability;
}

export interface Route {
  /** In order: the first is used; the rest are tried only if a connection fails before any response. */
  targets: Target[];
  reason: string;
  /** Set when no target can serve the request: the client gets this as its error. */
  refusal?: string;
  failover: boolean;
}

export class RouteError extends Error {}

function describeTarget(t: Target): string {
  return t.kind === "claude" ? `claude (${t.model})` : `${t.host} (${t.model})`;
}

export function targetLabel(t: Target): string {
  return t.kind === "claude" ? "claude" : t.host;
}

function isUp(h: HostHealth | undefined): boolean {
  return !h || h.healthy;
}

export class Router {
  constructor(
    private readonly cfg: InferenceConfig,
    private readonly tailscale = false,
  ) {}

  hostUrls(): { name: string; url: string }[] {
    return this.cfg.hosts.map((h) => ({ name: h.name, url: hostUrl(h, this.tailscale) }));
  }

  private host(name: string): InferenceHost {
    const h = this.cfg.hosts.find((x) => x.name === name);
    if (!h) throw new RouteError(`unknown host ${name}`);
    return h;
  }

  private ollama(name: string, model: string): Target {
    return { kind: "ollama", host: name, baseUrl: hostUrl(this.host(name), this.tailscale), model };
  }

  private claudeModel(model: string): string {
    return this.cfg.claude.models[model] ?? this.cfg.claude.model;
  }

  /** The host that should serve the request when everything is up: by tier, else by who has the model. */
  private owner(req: RouteRequest, health: Map<string, HostHealth>): { host: InferenceHost; why: string } {
    if (req.tier !== undefined) {
      const h = this.cfg.hosts.find((x) => x.tiers.includes(req.tier as string));
      if (!h) {
        const known = this.cfg.hosts.flatMap((x) => x.tiers);
        throw new RouteError(`unknown tier "${req.tier}" (known: ${known.join(", ") || "none configured"})`);
      }
      return { host: h, why: `tier ${req.tier} belongs to ${h.name}` };
    }
    const having = this.cfg.hosts.filter((h) => health.get(h.name)?.models.includes(req.model));
    const pick = having.find((h) => isUp(health.get(h.name))) ?? having[0];
    if (pick) return { host: pick, why: `${pick.name} has ${req.model}` };
    const first = this.cfg.hosts.find((h) => isUp(health.get(h.name))) ?? this.cfg.hosts[0];
    if (!first) throw new RouteError("no inference hosts configured");
    return { host: first, why: `no host lists ${req.model}; ${first.name} is the first healthy host` };
  }

  private ruleTarget(rule: FailoverRule, req: RouteRequest): Target | undefined {
    if (rule.to.kind === "claude") {
      return req.capability === "other" ? undefined : { kind: "claude", model: this.claudeModel(req.model) };
    }
    return this.ollama(rule.to.host, rule.to.models[req.model] ?? req.model);
  }

  private ruleFor(owner: string, req: RouteRequest): FailoverRule | undefined {
    return (
      this.cfg.rules.find((r) => r.down === owner && (req.tier === undefined || r.tiers.includes(req.tier))) ??
      this.cfg.rules.find((r) => r.down === owner)
    );
  }

  /** Healthy hosts other than `except` that list the model: the fallback when no rule applies. */
  private others(except: string, req: RouteRequest, health: Map<string, HostHealth>): Target[] {
    return this.cfg.hosts
      .filter((h) => h.name !== except && isUp(health.get(h.name)) && health.get(h.name)?.models.includes(req.model))
      .map((h) => this.ollama(h.name, req.model));
  }

  route(req: RouteRequest, health: Map<string, HostHealth>): Route {
    const { host, why } = this.owner(req, health);
    const h = health.get(host.name);
    const rule = this.ruleFor(host.name, req);
    const alt = rule ? this.ruleTarget(rule, req) : undefined;
    const alternates = alt ? [alt] : this.others(host.name, req, health);
    if (isUp(h)) {
      const first = this.ollama(host.name, req.model);
      return {
        targets: [first, ...alternates],
        reason: `${why}; ${host.name} is ${h?.unknown ? "not checked yet" : "healthy"}`,
        failover: false,
      };
    }
    const down = `${host.name} is down${h?.override ? " (override file)" : h?.lastError ? ` (${h.lastError})` : ""}`;
    if (rule && alt) {
      const mapped = alt.kind === "ollama" && alt.model !== req.model ? `, model ${req.model} → ${alt.model}` : "";
      return {
        targets: [alt],
        reason: `${why}; ${down}; rule ${rule.name} sends it to ${describeTarget(alt)}${mapped}`,
        failover: true,
      };
    }
    if (alternates.length) {
      return {
        targets: alternates,
        reason: `${why}; ${down}; ${alternates[0].kind === "ollama" ? alternates[0].host : "claude"} also has ${req.model}`,
        failover: true,
      };
    }
    const ruleNote = rule
      ? `rule ${rule.name} escalates to Claude, which cannot serve this endpoint`
      : `no failover rule for ${host.name}`;
    return {
      targets: [],
      reason: `${why}; ${down}; ${ruleNote}`,
      refusal: `no healthy host can serve ${req.model}: ${down}; ${ruleNote}`,
      failover: true,
    };
  }
}
