import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../util/atomic";
import { type Criterion, type DrillMeasurements, judge, recommendations } from "./criteria";

export interface DrillReport {
  measurements: DrillMeasurements;
  criteria: Criterion[];
  recommendations: string[];
  pass: boolean;
}

export function drillReport(m: DrillMeasurements): DrillReport {
  const criteria = judge(m);
  return {
    measurements: m,
    criteria,
    recommendations: recommendations(m, criteria),
    pass: !m.error && criteria.every((c) => c.pass),
  };
}

const sec = (ms?: number) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);

/** The plan's §8.3 table with its Measured column filled, and §8.4's findings. */
export function renderDrillMarkdown(r: DrillReport): string {
  const m = r.measurements;
  const A = (m.names?.primary ?? "anvil").toUpperCase();
  const F = (m.names?.standby ?? "forge").toUpperCase();
  const lines = [
    `# DR drill — ${m.startedAt}`,
    "",
    `${r.pass ? "**PASS**: every criterion met." : "**FAIL**: see the criteria and findings below."}`,
    "",
    `${m.kind === "pair" ? `On the real pair: ${A} the primary, ${F} the standby running the drill. ` : ""}Mode: ${m.mode} failover; ${m.fast ? "**FAST timings, scaled for CI** (the plan's targets unchanged)" : m.kind === "pair" ? "the configured timings" : "the plan's timings"} (${Object.entries(
      m.timings,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}); Litestream ${m.litestream ?? "?"}${m.broken ? `; **broken on purpose: ${m.broken}**` : ""}.`,
    "",
    "## 8.3 Acceptance criteria",
    "",
    "| Criterion | Target | Measured | Result |",
    "|---|---|---|---|",
    ...r.criteria.map(
      (c) => `| ${c.name} | ${c.target} | ${c.measured.replace(/\|/g, "\\|")} | ${c.pass ? "PASS" : "**FAIL**"} |`,
    ),
    "",
    "## 8.4 Findings",
    "",
    `- Actual RPO: ${sec(m.rpoMs)} (at most: how long before the failure ${A} last uploaded a database it then had writes in that ${F} never got)`,
    `- Actual RTO: ${sec(m.rtoMs)} from the failure to a write on ${F} in the store (${F} held the lease after ${sec(m.promotedMs)})`,
    `- P0 databases that failed to restore: ${
      m.p0
        ?.filter((x) => !x.ok)
        .map((x) => `${x.name} (${x.detail})`)
        .join(", ") || "none"
    }`,
    `- Daemons that did not come back: ${m.error ? `the drill stopped: ${m.error}` : `none (${A} replicates again, ${F} follows after the failback)`}`,
    ...m.findings.map((f) => `- ${f}`),
    "",
    "### Recommendations",
    "",
    ...(r.recommendations.length
      ? r.recommendations.map((x) => `- ${x}`)
      : ["- none: keep running this drill every quarter"]),
    "",
    "## Timeline",
    "",
    "| t | step |",
    "|---|---|",
    ...m.steps.map((s) => `| ${(s.atMs / 1000).toFixed(1)} s | ${s.what.replace(/\|/g, "\\|")} |`),
    "",
  ];
  return lines.join("\n");
}

/** Writes DIR/drill-TIME.md and .json; returns their paths. */
export function writeDrillReport(dir: string, r: DrillReport): { md: string; json: string } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `drill-${r.measurements.startedAt.replace(/[:.]/g, "-")}`);
  writeFileAtomic(`${base}.md`, renderDrillMarkdown(r));
  writeFileAtomic(`${base}.json`, `${JSON.stringify(r, null, 2)}\n`);
  return { md: `${base}.md`, json: `${base}.json` };
}
