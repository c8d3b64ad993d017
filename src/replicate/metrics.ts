import { promLabels } from "../util/prometheus";
import type { ReplicateState } from "./state";

/** Prometheus text exposition of the replicate role's state. */
export function renderReplicateMetrics(s: ReplicateState): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${promLabels(labels)} ${Number.isFinite(v) ? v : "NaN"}`);
  };
  const ls = s.litestream;
  metric("understudy_litestream_up", "gauge", "1 while the supervised Litestream process runs.", [
    [{}, ls.status === "running" ? 1 : 0],
  ]);
  const lease = s.lease;
  metric("understudy_lease_held", "gauge", "1 while this node holds the lease and is not fenced (it may upload).", [
    [{ node: s.node }, lease?.holder === s.node && lease.epoch !== undefined && !lease.fenced ? 1 : 0],
  ]);
  metric(
    "understudy_lease_epoch",
    "gauge",
    "The lease epoch this node last held or saw taken; rises on every change of hands.",
    [[{ node: s.node }, lease?.epoch ?? 0]],
  );
  metric("understudy_litestream_restarts_total", "counter", "Times the supervisor restarted Litestream.", [
    [{}, ls.restarts],
  ]);
  metric("understudy_manifest_publishes_total", "counter", "Positions manifests published for the standby.", [
    [{}, s.manifestPublishes ?? 0],
  ]);
  const per = (fn: (d: ReplicateState["databases"][number]) => number) =>
    s.databases.map((d) => [{ db: d.name, tier: d.tier }, fn(d)] as [Record<string, string>, number]);
  metric(
    "understudy_db_present",
    "gauge",
    "1 if the configured database file exists on disk.",
    per((d) => (d.present ? 1 : 0)),
  );
  metric(
    "understudy_db_uploads_total",
    "counter",
    "WAL segments uploaded since start.",
    per((d) => d.uploads),
  );
  metric(
    "understudy_db_snapshots_total",
    "counter",
    "Snapshots uploaded since start.",
    per((d) => d.snapshots),
  );
  metric(
    "understudy_db_uploaded_bytes_total",
    "counter",
    "Compressed bytes uploaded since start.",
    per((d) => d.bytesUploaded),
  );
  metric(
    "understudy_db_errors_total",
    "counter",
    "Litestream errors and warnings about the database.",
    per((d) => d.errors),
  );
  metric(
    "understudy_db_last_upload_timestamp_seconds",
    "gauge",
    "Unix time of the newest upload (0 if none yet).",
    per((d) => (d.lastUploadAt ? Date.parse(d.lastUploadAt) / 1000 : 0)),
  );
  return `${out.join("\n")}\n`;
}
