/** What a drill measured: every number the plan's §8.3 table asks for, and what it forgot. */
export interface DrillMeasurements {
  startedAt: string;
  fast: boolean;
  mode: "automatic" | "manual";
  timings: Record<string, string | number>;
  broken?: string;
  litestream?: string;
  steps: { atMs: number; what: string }[];
  /** From the kill to the moment the Slack stand-in accepted the first alert. */
  alertMs?: number;
  baselineOpenTasks?: number;
  survivorOpenTasks?: number;
  /** How old the oldest row the survivor lacks was at the kill (0: it lacks none). */
  rpoMs?: number;
  databases?: { name: string; committed: number; onSurvivor: number; lostWindowMs: number }[];
  promotedMs?: number;
  /** From the kill to a write on the survivor uploaded as the new epoch. */
  rtoMs?: number;
  p0?: { name: string; ok: boolean; detail: string }[];
  inference?: { ok: boolean; target: string };
  keptAside?: { dir: string; rows: number; databases: string[] };
  rejoinMs?: number;
  failbackMs?: number;
  failback?: { name: string; rows: number; expected: number; equal: boolean }[];
  finalLease?: { holder: string; epoch: number };
  epochs?: { epoch: number; node: string }[];
  slackMessages?: string[];
  findings: string[];
  error?: string;
}

export interface Criterion {
  name: string;
  target: string;
  measured: string;
  pass: boolean;
}

/** The plan's P0 count (13 P0-critical + 4 P0-financial). */
export const PLAN_P0 = 17;
const s = (ms?: number) => (ms === undefined ? "not measured" : `${(ms / 1000).toFixed(1)}s`);

/** The plan's six acceptance criteria (§8.3), judged from the measurements, plus the two it forgot. */
export function judge(m: DrillMeasurements): Criterion[] {
  const p0ok = m.p0?.filter((x) => x.ok).length ?? 0;
  const p0bad = m.p0?.filter((x) => !x.ok) ?? [];
  const fb = m.failback ?? [];
  const mc = fb.find((x) => x.name === "mission-control.db");
  return [
    {
      name: "Slack alert latency",
      target: "< 2 min 30s",
      measured: m.alertMs === undefined ? "no alert arrived" : s(m.alertMs),
      pass: m.alertMs !== undefined && m.alertMs < 150_000,
    },
    {
      name: "FORGE DB data lag (RPO)",
      target: "< 60s",
      measured:
        m.rpoMs === undefined
          ? "not measured"
          : `${s(m.rpoMs)} (${(m.databases ?? []).reduce((a, d) => a + d.committed - d.onSurvivor, 0)} rows; open tasks ${m.survivorOpenTasks ?? "?"} of ${m.baselineOpenTasks ?? "?"} at the baseline)`,
      pass: m.rpoMs !== undefined && m.rpoMs < 60_000,
    },
    {
      name: "Time to FORGE serving (RTO)",
      target: "< 5 min",
      measured: m.rtoMs === undefined ? "not measured" : `${s(m.rtoMs)} (promoted at ${s(m.promotedMs)})`,
      pass: m.rtoMs !== undefined && m.rtoMs < 300_000,
    },
    {
      name: "P0 DB count on FORGE",
      target: `${PLAN_P0} DBs`,
      measured: m.p0
        ? `${p0ok}/${m.p0.length}${p0bad.length ? ` (${p0bad.map((x) => `${x.name}: ${x.detail}`).join("; ")})` : ", integrity ok, equal to ANVIL's last upload"}`
        : "not measured",
      pass: m.p0 !== undefined && p0ok === PLAN_P0 && m.p0.length === PLAN_P0,
    },
    {
      name: "Ollama inference on FORGE",
      target: "Working (test prompt)",
      measured: m.inference ? `answered by ${m.inference.target}` : "no answer",
      pass: !!m.inference?.ok,
    },
    {
      name: "No data loss on ANVIL restart",
      target: "mission-control.db row count matches",
      measured: fb.length
        ? `mission-control.db ${mc?.rows ?? 0}/${mc?.expected ?? 0} rows; ${fb.filter((x) => x.equal).length}/${fb.length} followed databases equal row for row`
        : "not measured",
      pass: fb.length > 0 && fb.every((x) => x.equal),
    },
    {
      name: "Time to rejoin (not in the plan)",
      target: "measured",
      measured: m.rejoinMs === undefined ? "not measured" : `${s(m.rejoinMs)}; failback switchover ${s(m.failbackMs)}`,
      pass: m.rejoinMs !== undefined && m.failbackMs !== undefined,
    },
    {
      name: "Writes after the fence kept aside (not in the plan)",
      target: "kept, not lost",
      measured: m.keptAside
        ? `${m.keptAside.rows} rows in ${m.keptAside.databases.length} databases, in ${m.keptAside.dir}`
        : "not measured",
      pass: m.keptAside !== undefined,
    },
  ];
}

/** §8.4: what to do about each failed criterion. */
export function recommendations(m: DrillMeasurements, c: Criterion[]): string[] {
  const out: string[] = [];
  const failed = (n: string) => c.find((x) => x.name.startsWith(n) && !x.pass);
  if (failed("Slack alert"))
    out.push(
      "Alerting: give the heartbeat watcher a Slack webhook (heartbeat.slack-webhook) and check it with `understudy heartbeat once`; run it outside both machines",
    );
  if (failed("FORGE DB data lag"))
    out.push(
      "RPO: the primary's uploads were behind at the failure; watch /primary and Litestream's upload age (`understudy status`) and alert on them, not on /health",
    );
  if (failed("Time to FORGE"))
    out.push("RTO: use failover.mode automatic, or shorten the lease TTL; check what the timeline shows as slowest");
  if (failed("P0 DB"))
    out.push(
      "P0: every P0 database must be followed by the standby and its copy made by `understudy follow`; move stray files out of the standby's data dir",
    );
  if (failed("Ollama"))
    out.push("Inference: check the inference monitor and proxy on FORGE and that FORGE has ANVIL's models");
  if (failed("No data loss"))
    out.push("Failback: check the switchover log; the old primary must follow before the failback");
  if (m.error) out.push(`The drill stopped early: ${m.error}`);
  return out;
}
