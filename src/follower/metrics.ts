import { promLabels } from "../util/prometheus";
import type { FollowState } from "./state";

/** Prometheus text for the follow role. */
export function renderFollowMetrics(s: FollowState): string {
  const out: string[] = [];
  const g = (name: string, type: string, help: string, rows: [string, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${Number.isFinite(v) ? v : "NaN"}`);
  };
  const per = (fn: (d: FollowState["databases"][number]) => number | undefined) =>
    s.databases.map((d) => [promLabels({ db: d.name, tier: d.tier }), fn(d) ?? Number.NaN] as [string, number]);
  g(
    "understudy_follow_lag_seconds",
    "gauge",
    "Age of the oldest primary commit the copy lacks (grows while nothing confirms the copy is current).",
    per((d) => (d.lagMs === undefined ? undefined : d.lagMs / 1000)),
  );
  g(
    "understudy_follow_segments_applied_total",
    "counter",
    "WAL segments applied.",
    per((d) => d.segmentsApplied),
  );
  g(
    "understudy_follow_transactions_applied_total",
    "counter",
    "Committed transactions applied.",
    per((d) => d.transactionsApplied),
  );
  g(
    "understudy_follow_bootstraps_total",
    "counter",
    "Bootstraps from a snapshot (first copy, new generation, gap).",
    per((d) => d.bootstraps),
  );
  g(
    "understudy_follow_stalled",
    "gauge",
    "1 while the copy cannot advance (a gap or corrupt data in the store, a full disk, a damaged copy).",
    per((d) => (d.phase === "stalled" || d.phase === "damaged" ? 1 : 0)),
  );
  const ops = s.operations;
  g("understudy_follow_store_operations_total", "counter", "Store operations by kind.", [
    ['{op="list"}', ops.list],
    ['{op="get"}', ops.get],
    ['{op="get_missing"}', ops.getMissing],
  ]);
  g("understudy_follow_store_bytes_downloaded_total", "counter", "Bytes downloaded from the store.", [
    ["", ops.bytesDown],
  ]);
  g("understudy_follow_manifest", "gauge", "1 when the primary's positions manifest is being used.", [
    ["", s.mode === "manifest" ? 1 : 0],
  ]);
  return `${out.join("\n")}\n`;
}
