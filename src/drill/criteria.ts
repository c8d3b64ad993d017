/** What a drill measured: every number the plan's §8.3 table asks for, and what it forgot. */
export interface DrillMeasurements {
  startedAt: string;
  /** local: two nodes on this machine (`drill --local`); pair: the real primary and this standby (`drill run`). */
  kind?: "local" | "pair";
  /** The nodes' names as the table shows them (the plan's: ANVIL the primary, FORGE the standby). */
  names?: { primary: string; standby: string };
  fast: boolean;
  mode: "automatic" | "manual";
  timings: Record<string, string | number>;
  broken?: string;
  litestream?: string;
  steps: { atMs: number; what: string }[];
  /** From the kill to the moment Slack accepted the first alert. */
  alertMs?: number;
  /** Why the alert latency could not be measured at all (no record of the watcher to read). */
  alertUnmeasured?: string;
  baselineOpenTasks?: number;
  survivorOpenTasks?: number;
  /** At most how old the newest upload of a database the survivor lacks rows of was at the failure (0: none). */
  rpoMs?: number;
  promotedMs?: number;
  /** From the kill to a write on the survivor uploaded as the new epoch. */
  rtoMs?: number;
  p0?: { name: string; ok: boolean; detail: string }[];
  /** How many P0 databases the config has (the plan's has 17). */
  p0Expected?: number;
  /** What "equal to the last upload" was checked by (rows, or the replica position on the real pair). */
  p0Basis?: string;
  inference?: { ok: boolean; target: string };
  keptAside?: { dir: string; rows: number; databases: string[] };
  rejoinMs?: number;
  failbackMs?: number;
  failback?: { name: string; rows: number; expected: number; equal: boolean }[];
  /** What the failback's rows were compared with. */
  failbackBasis?: string;
  finalLease?: { holder: string; epoch: number };
  epochs?: { epoch: number; node: string }[];
  slackMessages?: string[];
  findings: string[];
  error?: string;
}

export interface Criterion {
  id: "alert" | "rpo" | "rto" | "p0" | "inference" | "failback" | "rejoin" | "kept-aside";
  name: string;
  target: string;
  measured: string;
  pass: boolean;
}

/** The plan's P0 count (13 P0-critical + 4 P0-financial); a fleet of another size is judged by its own config. */
export const PLAN_P0 = 17;
const s = (ms?: number) => (ms === undefined ? "not measured" : `${(ms / 1000).toFixed(1)}s`);

/** The plan's six acceptance criteria (§8.3), judged from the measurements, plus the two it forgot. */
export function judge(m: DrillMeasurements): Criterion[] {
  const A = (m.names?.primary ?? "anvil").toUpperCase();
  const F = (m.names?.standby ?? "forge").toUpperCase();
  const p0ok = m.p0?.filter((x) => x.ok).length ?? 0;
  const p0bad = m.p0?.filter((x) => !x.ok) ?? [];
  const fb = m.failback ?? [];
  const mc = fb.find((x) => x.name === "mission-control.db");
  const p0want = m.p0Expected ?? PLAN_P0;
  return [
    {
      id: "alert",
      name: "Slack alert latency",
      target: "< 2 min 30s",
      measured:
        m.alertMs !== undefined
          ? s(m.alertMs)
          : m.alertUnmeasured
            ? `not measured: ${m.alertUnmeasured}`
            : "no alert arrived",
      pass: m.alertMs !== undefined && m.alertMs < 150_000,
    },
    {
      id: "rpo",
      name: `${F} DB data lag (RPO)`,
      target: "< 60s",
      measured:
        m.rpoMs === undefined
          ? "not measured"
          : `${s(m.rpoMs)} (${m.keptAside?.rows ?? "?"} rows; open tasks ${m.survivorOpenTasks ?? "?"} of ${m.baselineOpenTasks ?? "?"} at the baseline)`,
      pass: m.rpoMs !== undefined && m.rpoMs < 60_000,
    },
    {
      id: "rto",
      name: `Time to ${F} serving (RTO)`,
      target: "< 5 min",
      measured: m.rtoMs === undefined ? "not measured" : `${s(m.rtoMs)} (promoted at ${s(m.promotedMs)})`,
      pass: m.rtoMs !== undefined && m.rtoMs < 300_000,
    },
    {
      id: "p0",
      name: `P0 DB count on ${F}`,
      target: `${p0want} DBs${p0want === PLAN_P0 ? "" : ` (the config's P0; the plan has ${PLAN_P0})`}`,
      measured: m.p0
        ? `${p0ok}/${m.p0.length}${p0bad.length ? ` (${p0bad.map((x) => `${x.name}: ${x.detail}`).join("; ")})` : `, integrity ok, ${m.p0Basis ?? `equal to ${A}'s last upload`}`}`
        : "not measured",
      pass: m.p0 !== undefined && p0want > 0 && p0ok === p0want && m.p0.length === p0want,
    },
    {
      id: "inference",
      name: `Ollama inference on ${F}`,
      target: "Working (test prompt)",
      measured: m.inference ? `answered by ${m.inference.target}` : "no answer",
      pass: !!m.inference?.ok,
    },
    {
      id: "failback",
      name: `No data loss on ${A} restart`,
      target: "mission-control.db row count matches",
      measured: fb.length
        ? `${mc ? `mission-control.db ${mc.rows}/${mc.expected} rows; ` : ""}${fb.filter((x) => x.equal).length}/${fb.length} followed databases equal row for row${m.failbackBasis ? ` ${m.failbackBasis}` : ""}`
        : "not measured",
      pass: fb.length > 0 && fb.every((x) => x.equal),
    },
    {
      id: "rejoin",
      name: "Time to rejoin (not in the plan)",
      target: "measured",
      measured: m.rejoinMs === undefined ? "not measured" : `${s(m.rejoinMs)}; failback switchover ${s(m.failbackMs)}`,
      pass: m.rejoinMs !== undefined && m.failbackMs !== undefined,
    },
    {
      id: "kept-aside",
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
  const failed = (id: Criterion["id"]) => c.find((x) => x.id === id && !x.pass);
  if (failed("alert"))
    out.push(
      m.alertUnmeasured
        ? "Alerting: let the drill read the heartbeat watcher's record (drill.heartbeat-record: its --state file, or the /state URL of its --metrics-listen server)"
        : "Alerting: give the heartbeat watcher a Slack webhook (heartbeat.slack-webhook) and check it with `understudy heartbeat once`; run it outside both machines",
    );
  if (failed("rpo"))
    out.push(
      "RPO: the primary's uploads were behind at the failure; watch /primary and Litestream's upload age (`understudy status`) and alert on them, not on /health",
    );
  if (failed("rto"))
    out.push("RTO: use failover.mode automatic, or shorten the lease TTL; check what the timeline shows as slowest");
  if (failed("p0"))
    out.push(
      "P0: every P0 database must be followed by the standby and its copy made by `understudy follow`; move stray files out of the standby's data dir",
    );
  if (failed("inference"))
    out.push(
      `Inference: check the inference monitor and proxy on ${(m.names?.standby ?? "forge").toUpperCase()} and that it has ${(m.names?.primary ?? "anvil").toUpperCase()}'s models`,
    );
  if (failed("failback"))
    out.push("Failback: check the switchover log; the old primary must follow before the failback");
  if (m.error) out.push(`The drill stopped early: ${m.error}`);
  return out;
}
