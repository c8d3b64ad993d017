import { promLabels } from "../util/prometheus";
import type { HostHealth } from "./hostHealth";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

class Counter {
  readonly values = new Map<string, { labels: Record<string, string>; n: number }>();

  inc(l: Record<string, string>, by = 1): void {
    const key = JSON.stringify(l);
    const v = this.values.get(key) ?? { labels: l, n: 0 };
    v.n += by;
    this.values.set(key, v);
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; n: number }>();

  observe(l: Record<string, string>, seconds: number): void {
    const key = JSON.stringify(l);
    const s = this.series.get(key) ?? { labels: l, counts: BUCKETS.map(() => 0), sum: 0, n: 0 };
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) s.counts[i]++;
    });
    s.sum += seconds;
    s.n++;
    this.series.set(key, s);
  }
}

/** The proxy's Prometheus metrics: requests, failovers, upstream latency by target, host health. */
export class ProxyMetrics {
  readonly requests = new Counter();
  readonly failovers = new Counter();
  readonly upstreamErrors = new Counter();
  readonly upstreamLatency = new Histogram();
  inflight = 0;

  render(health: Map<string, HostHealth>): string {
    const out: string[] = [];
    const counter = (name: string, help: string, c: Counter) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      for (const v of c.values.values()) out.push(`${name}${promLabels(v.labels)} ${v.n}`);
    };
    counter("understudy_inference_requests_total", "Requests answered, by endpoint, target and status.", this.requests);
    counter(
      "understudy_inference_failovers_total",
      "Requests sent somewhere other than their owner (rule) or retried elsewhere (retry).",
      this.failovers,
    );
    counter(
      "understudy_inference_upstream_errors_total",
      "Upstream failures by target and stage (connect: before any response, stream: after it began).",
      this.upstreamErrors,
    );
    const h = "understudy_inference_upstream_seconds";
    out.push(`# HELP ${h} Time from sending a request upstream to its response headers.`, `# TYPE ${h} histogram`);
    for (const s of this.upstreamLatency.series.values()) {
      BUCKETS.forEach((b, i) => {
        out.push(`${h}_bucket${promLabels({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      out.push(`${h}_bucket${promLabels({ ...s.labels, le: "+Inf" })} ${s.n}`);
      out.push(`${h}_sum${promLabels(s.labels)} ${s.sum}`, `${h}_count${promLabels(s.labels)} ${s.n}`);
    }
    out.push(
      "# HELP understudy_inference_inflight Requests in progress.",
      "# TYPE understudy_inference_inflight gauge",
    );
    out.push(`understudy_inference_inflight ${this.inflight}`);
    out.push(
      "# HELP understudy_inference_host_healthy 1 if the monitor calls the host healthy (after hysteresis and overrides).",
      "# TYPE understudy_inference_host_healthy gauge",
    );
    for (const [host, s] of health)
      out.push(`understudy_inference_host_healthy${promLabels({ host })} ${s.healthy ? 1 : 0}`);
    out.push(
      "# HELP understudy_inference_host_check_latency_ms Latency of the host's last good health check.",
      "# TYPE understudy_inference_host_check_latency_ms gauge",
    );
    for (const [host, s] of health)
      if (s.latencyMs !== undefined)
        out.push(`understudy_inference_host_check_latency_ms${promLabels({ host })} ${s.latencyMs}`);
    return `${out.join("\n")}\n`;
  }
}
