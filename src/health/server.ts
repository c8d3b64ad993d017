import http from "node:http";
import type { AddressInfo } from "node:net";
import type { NodeConfig } from "../config/types";
import { parseDuration } from "../util/duration";
import { closeHttp, listenHttp, safeHandler } from "../util/net";
import { type NodeSummary, nodeSummary } from "./summary";

export interface HealthServerOptions {
  node: NodeConfig;
  /** Lag above which /readiness on a standby says not ready (the plan's RPO: 60 s). */
  readyLagMs: number;
  /** For tests: where the summary comes from. */
  summarize?: (node: NodeConfig) => NodeSummary;
}

type Verdict = { ok: boolean; reason: string };

/**
 * The node's health endpoint (the plan's :8099) with Patroni-style role checks that answer 200 or 503, so a load
 * balancer, a heartbeat or a person can ask one plain question. It only reads the daemons' state files: a store or
 * database that is down is reported, never waited on, so this keeps answering whatever else fails.
 */
export class HealthServer {
  private readonly server: http.Server;
  private readonly started = Date.now();
  private readonly counts = new Map<string, number>();

  constructor(private readonly o: HealthServerOptions) {
    this.server = http.createServer(safeHandler((req, res) => this.handle(req, res)));
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenHttp(this.server, host, port);
  }

  close(): Promise<void> {
    return closeHttp(this.server);
  }

  private summary(): NodeSummary {
    return (this.o.summarize ?? nodeSummary)(this.o.node);
  }

  private primary(s: NodeSummary): Verdict {
    if (s.role !== "primary") return { ok: false, reason: `${this.o.node.name} is the ${s.role}` };
    if (!s.replication) return { ok: false, reason: "understudy replicate has not run on this node" };
    if (!s.replication.running)
      return { ok: false, reason: s.replication.problems.join("; ") || "replicate is not running" };
    return { ok: true, reason: `primary, litestream ${s.replication.litestream}` };
  }

  private standby(s: NodeSummary, maxLagMs?: number): Verdict {
    if (s.role !== "standby") return { ok: false, reason: `${this.o.node.name} is the ${s.role}` };
    if (!s.follow) return { ok: false, reason: "understudy follow has not run on this node" };
    if (!s.follow.running) return { ok: false, reason: s.follow.problems.join("; ") || "follow is not running" };
    if (maxLagMs !== undefined) {
      if (s.follow.worstLagMs === undefined)
        return { ok: false, reason: `lag unknown: ${s.follow.problems.join("; ") || "no database followed yet"}` };
      if (s.follow.worstLagMs > maxLagMs)
        return {
          ok: false,
          reason: `lag ${(s.follow.worstLagMs / 1000).toFixed(1)}s on ${s.follow.worstDb} exceeds ${maxLagMs / 1000}s`,
        };
    }
    return {
      ok: true,
      reason: `standby, worst lag ${s.follow.worstLagMs === undefined ? "unknown" : `${(s.follow.worstLagMs / 1000).toFixed(1)}s`}`,
    };
  }

  /** Returns the status sent (for the request log). */
  private handle(req: http.IncomingMessage, res: http.ServerResponse): number {
    const send = (status: number, body: unknown, type = "application/json; charset=utf-8") => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : text);
      return status;
    };
    let url: URL;
    try {
      // Parsed against a fixed base: a request target such as "//[" or "http://[" is not a URL at all.
      url = new URL(req.url ?? "/", "http://x");
    } catch {
      this.counts.set("other", (this.counts.get("other") ?? 0) + 1);
      return send(400, { error: "malformed request target" });
    }
    const path = url.pathname.replace(/\/+$/, "") || "/";
    // Only known paths become label values: a scanner probing random URLs must not grow the metrics.
    const known = [
      "/",
      "/health",
      "/primary",
      "/leader",
      "/standby",
      "/replica",
      "/liveness",
      "/readiness",
      "/metrics",
    ];
    const label = known.includes(path) ? path : "other";
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, { error: "GET only" });
    let s: NodeSummary;
    try {
      s = this.summary();
    } catch (e) {
      // The state files could not be read at all: still answer, and say so.
      s = { role: this.o.node.role };
      if (path === "/health") return send(200, this.healthBody(s, [`cannot read state: ${(e as Error).message}`]));
    }
    const verdict = (v: Verdict) =>
      send(v.ok ? 200 : 503, { ok: v.ok, role: s.role, host: this.o.node.name, reason: v.reason });
    switch (path) {
      case "/":
      case "/health":
        return send(200, this.healthBody(s));
      case "/primary":
      case "/leader":
        return verdict(this.primary(s));
      case "/standby":
      case "/replica": {
        const lag = url.searchParams.get("lag");
        let max: number | undefined;
        if (lag !== null) {
          max = /^\d+$/.test(lag) ? Number(lag) * 1000 : parseDuration(lag);
          if (max === undefined) return send(400, { error: `lag=${lag}: write a duration such as 10s or 500ms` });
        }
        return verdict(this.standby(s, max));
      }
      case "/liveness":
        return send(200, { ok: true, uptime_s: Math.round((Date.now() - this.started) / 1000) });
      case "/readiness":
        return verdict(s.role === "primary" ? this.primary(s) : this.standby(s, this.o.readyLagMs));
      case "/metrics":
        return send(200, this.metrics(s), "text/plain; version=0.0.4");
      default:
        return send(404, {
          error: `no such endpoint ${path}; try /health, /primary, /standby?lag=10s, /liveness, /readiness, /metrics`,
        });
    }
  }

  private healthBody(s: NodeSummary, extra: string[] = []) {
    const problems = [...extra, ...(s.replication?.problems ?? []), ...(s.follow?.problems ?? [])];
    return {
      status: "ok",
      host: this.o.node.name,
      ts: new Date().toISOString(),
      role: s.role,
      ...(s.replication ? { replication: s.replication } : {}),
      ...(s.follow ? { follow: s.follow } : {}),
      problems,
    };
  }

  private metrics(s: NodeSummary): string {
    const n = this.o.node.name;
    const lines = [
      "# HELP understudy_health_up 1 while the health server answers.",
      "# TYPE understudy_health_up gauge",
      `understudy_health_up{node="${n}",role="${s.role}"} 1`,
      "# HELP understudy_health_primary_ok 1 if /primary answers 200.",
      "# TYPE understudy_health_primary_ok gauge",
      `understudy_health_primary_ok{node="${n}"} ${this.primary(s).ok ? 1 : 0}`,
      "# HELP understudy_health_standby_ok 1 if /standby answers 200.",
      "# TYPE understudy_health_standby_ok gauge",
      `understudy_health_standby_ok{node="${n}"} ${this.standby(s).ok ? 1 : 0}`,
      "# HELP understudy_health_worst_lag_seconds Lag of the worst followed database (NaN when unknown).",
      "# TYPE understudy_health_worst_lag_seconds gauge",
      `understudy_health_worst_lag_seconds{node="${n}"} ${s.follow?.worstLagMs === undefined ? "NaN" : s.follow.worstLagMs / 1000}`,
      "# HELP understudy_health_requests_total Requests by path.",
      "# TYPE understudy_health_requests_total counter",
      ...[...this.counts].map(([p, c]) => `understudy_health_requests_total{path="${p}"} ${c}`),
    ];
    return `${lines.join("\n")}\n`;
  }
}
