import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import type { InferenceConfig, InferenceHost } from "../config/inferenceTypes";
import { fetchFailure } from "../util/net";
import { readOverrides, writeHealthFile } from "./healthFile";
import type { HostHealth } from "./hostHealth";

export interface MonitorOptions {
  log: Logger;
  /** Use each host's tailscale URL (when the monitor runs on the other node). */
  tailscale?: boolean;
  /** Write the plan's health file after each round (empty: do not). */
  healthFile?: string;
  overrideFile?: string;
}

export function hostUrl(h: InferenceHost, tailscale?: boolean): string {
  return (tailscale && h.tailscaleUrl) || h.url;
}

function freshHealth(): HostHealth {
  return { healthy: true, unknown: true, models: [], consecutiveFailures: 0, consecutiveSuccesses: 0, override: false };
}

/**
 * Checks every host on an interval and decides health with hysteresis: a healthy host turns unhealthy only after
 * `failAfter` failures in a row and back only after `recoverAfter` good checks, so one slow answer does not move
 * traffic. Failures the proxy sees on real requests count as failed checks too (they are the freshest evidence).
 */
export class HealthMonitor extends EventEmitter {
  private readonly health = new Map<string, HostHealth>();
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private overrideProblem?: string;
  private stopped = false;

  constructor(
    private readonly cfg: InferenceConfig,
    private readonly opts: MonitorOptions,
  ) {
    super();
    for (const h of cfg.hosts) this.health.set(h.name, freshHealth());
  }

  /** Continues from an earlier run's health file (counts and states), so hysteresis spans runs. */
  seed(from: Map<string, HostHealth>): void {
    for (const [name, h] of from) {
      // An overridden entry records the operator's word, not what the host did: start that host afresh.
      if (!this.health.has(name) || h.override) continue;
      this.health.set(name, { ...h, unknown: false, override: false });
    }
  }

  /** Checks now and then every interval; resolves once the first round is done, so routing starts informed. */
  start(): Promise<void> {
    const loop = async () => {
      await this.checkAll();
      if (!this.stopped) this.timer = setTimeout(loop, this.cfg.monitor.interval);
    };
    return loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round;
  }

  private overrides?: { at: number; forced: Map<string, boolean> };

  /** The override file, read at most once a second: snapshot() runs for every proxied request. */
  private forced(): Map<string, boolean> {
    const now = Date.now();
    if (!this.overrides || now - this.overrides.at >= 1000)
      this.overrides = { at: now, forced: readOverrides(this.opts.overrideFile ?? "").forced };
    return this.overrides.forced;
  }

  /** Current view, overrides applied. */
  snapshot(): Map<string, HostHealth> {
    const forced = this.forced();
    const out = new Map<string, HostHealth>();
    for (const [name, h] of this.health) {
      const f = forced.get(name);
      out.set(name, f === undefined ? { ...h } : { ...h, healthy: f, unknown: false, override: true });
    }
    return out;
  }

  checkAll(): Promise<void> {
    if (!this.round) {
      this.round = (async () => {
        await Promise.all(this.cfg.hosts.map((h) => this.checkHost(h)));
        const o = readOverrides(this.opts.overrideFile ?? "");
        this.overrides = { at: Date.now(), forced: o.forced };
        if (o.problem !== this.overrideProblem) {
          if (o.problem) this.opts.log.warn({ file: this.opts.overrideFile }, o.problem);
          this.overrideProblem = o.problem;
        }
        if (this.opts.healthFile) {
          try {
            writeHealthFile(this.opts.healthFile, this.snapshot());
          } catch (e) {
            this.opts.log.error({ file: this.opts.healthFile, err: (e as Error).message }, "cannot write health file");
          }
        }
        this.emit("round", this.snapshot());
      })().finally(() => {
        this.round = undefined;
      });
    }
    return this.round;
  }

  private readonly lastPassive = new Map<string, number>();

  /**
   * Evidence from a real request: the host refused or dropped a connection. Counted at most once per interval,
   * so a burst of concurrent requests failing together is one failed check, not many.
   */
  reportFailure(host: string, error: string): void {
    const now = Date.now();
    if (now - (this.lastPassive.get(host) ?? 0) < this.cfg.monitor.interval) return;
    this.lastPassive.set(host, now);
    this.record(host, false, error);
  }

  private async checkHost(h: InferenceHost): Promise<void> {
    const url = `${hostUrl(h, this.opts.tailscale)}${h.healthPath}`;
    const started = performance.now();
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(h.healthTimeout) });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
      let models: string[] | undefined;
      try {
        const body = JSON.parse(text) as { models?: { name?: string; model?: string }[] };
        if (Array.isArray(body.models)) models = body.models.map((m) => String(m.name ?? m.model));
      } catch {
        // A health path other than /api/tags need not answer JSON.
      }
      this.record(h.name, true, undefined, Math.round(performance.now() - started), models);
    } catch (e) {
      const why = `${url}: ${fetchFailure(e, h.healthTimeout)}`;
      this.record(h.name, false, why);
    }
  }

  private record(name: string, ok: boolean, error?: string, latencyMs?: number, models?: string[]): void {
    const h = this.health.get(name);
    if (!h) return;
    const now = new Date().toISOString();
    h.lastCheck = now;
    if (ok) {
      h.consecutiveSuccesses++;
      h.consecutiveFailures = 0;
      h.latencyMs = latencyMs;
      if (models) h.models = models;
      h.lastError = undefined;
    } else {
      h.consecutiveFailures++;
      h.consecutiveSuccesses = 0;
      h.lastError = error;
    }
    const wasHealthy = h.healthy;
    if (h.unknown) {
      // The first answer decides: there is no earlier state to protect from flapping.
      h.healthy = ok;
      h.unknown = false;
      h.since = now;
    } else if (h.healthy && h.consecutiveFailures >= this.cfg.monitor.failAfter) h.healthy = false;
    else if (!h.healthy && h.consecutiveSuccesses >= this.cfg.monitor.recoverAfter) h.healthy = true;
    if (wasHealthy !== h.healthy) {
      h.since = now;
      this.opts.log.warn(
        { host: name, healthy: h.healthy, error: h.lastError },
        h.healthy ? `${name} is healthy again` : `${name} is unhealthy: ${h.lastError}`,
      );
      this.emit("change", name, h.healthy);
    }
  }
}
