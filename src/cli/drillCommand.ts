import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { drillCheck } from "../drill/check";
import { BREAKS, type DrillBreak, runLocalDrill } from "../drill/local";
import { runPairDrill } from "../drill/pair";
import { drillReport, renderDrillMarkdown, writeDrillReport } from "../drill/report";
import { renderTable } from "../util/table";
import { COMMON, config, parse, printJson } from "./args";
import { durationArg, numberArg } from "./opsArgs";

const DRILL_OPTIONS = {
  ...COMMON,
  local: { type: "boolean", default: false },
  fast: { type: "boolean", default: false },
  manual: { type: "boolean", default: false },
  scale: { type: "string", default: "0.0005" },
  keep: { type: "boolean", default: false },
  "report-dir": { type: "string" },
  break: { type: "string" },
  "ping-slack": { type: "boolean", default: false },
  yes: { type: "boolean", default: false },
  promote: { type: "boolean", default: false },
  "ignore-checks": { type: "boolean", default: false },
  trigger: { type: "string" },
  recover: { type: "string" },
  rejoin: { type: "string" },
  "heartbeat-record": { type: "string" },
  "step-timeout": { type: "string" },
  litestream: { type: "string" },
} as const;

type DrillValues = ReturnType<typeof parse<typeof DRILL_OPTIONS>>["values"];

export async function drillCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, DRILL_OPTIONS, "drill");
  if (positionals[0] === "check") {
    const cfg = config(values);
    const node = selectNode(cfg, { name: values.node });
    const checks = await drillCheck(cfg, node, { pingSlack: values["ping-slack"] });
    if (values.json) printJson(checks);
    else
      console.log(
        renderTable([
          ["CHECK", "RESULT", "DETAIL", "FIX"],
          ...checks.map((c) => [c.check, c.status.toUpperCase(), c.detail, c.fix ?? ""]),
        ]),
      );
    return checks.some((c) => c.status === "fail") ? 1 : 0;
  }
  if (positionals[0] === "run") return drillRun(values);
  if (positionals.length) throw new UserError(`unknown drill subcommand "${positionals[0]}": check, run, or --local`);
  if (!values.local)
    throw new UserError(
      "say which drill: understudy drill --local [--fast] (two nodes on this machine, no cloud account), or understudy drill check, then drill run, on the real pair",
    );
  const brk = values.break;
  if (brk !== undefined && !(BREAKS as readonly string[]).includes(brk))
    throw new UserError(`--break is one of ${BREAKS.join(", ")}, not "${brk}"`);
  const { m, dir } = await runLocalDrill({
    fast: !!values.fast,
    manual: !!values.manual,
    scale: numberArg(values.scale, "scale", { min: 0.0001, max: 1 }) as number,
    keep: !!values.keep,
    break: brk as DrillBreak | undefined,
    litestream: values.litestream as string | undefined,
    progress: (line) => {
      if (!values.json) process.stderr.write(`${line}\n`);
    },
  });
  const r = drillReport(m);
  const out = writeDrillReport(resolve((values["report-dir"] as string | undefined) ?? "drills"), r);
  if (values.json) printJson({ ...r, report: out });
  else {
    console.log(`\n${renderDrillMarkdown(r)}`);
    console.log(`report: ${out.md} (and ${out.json})${m.error || values.keep ? `; the drill's files: ${dir}` : ""}`);
  }
  return r.pass ? 0 : 1;
}

/** Reads one line from the terminal. */
function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((res) =>
    rl.question(question, (a) => {
      rl.close();
      res(a.trim());
    }),
  );
}

/** `drill run`: the prerequisites, the operator's confirmation, then the measured drill on the real pair. */
async function drillRun(values: DrillValues): Promise<number> {
  const cfg = config(values);
  const node = selectNode(cfg, { name: values.node });
  const say = (line: string) => {
    if (!values.json) process.stderr.write(`${line}\n`);
  };
  const checks = await drillCheck(cfg, node, {});
  const failed = checks.filter((c) => c.status === "fail");
  say(renderTable([["CHECK", "RESULT", "DETAIL"], ...checks.map((c) => [c.check, c.status.toUpperCase(), c.detail])]));
  if (failed.length && !values["ignore-checks"]) {
    say(
      `\n${failed.length} prerequisites fail (fixes: understudy drill check); nothing was done. --ignore-checks runs anyway.`,
    );
    return 1;
  }
  // Not at a terminal, nobody can answer: said before anything is touched.
  if (!values.yes && !process.stdin.isTTY)
    throw new UserError("drill run takes the primary down for real: confirm with --yes when not at a terminal");
  const d = cfg.drill;
  const m = await runPairDrill(cfg, node, {
    trigger: values.trigger ?? d.trigger,
    recover: values.recover ?? d.recover,
    rejoin: values.rejoin ?? d.rejoin,
    heartbeatRecord: values["heartbeat-record"] ?? d.heartbeatRecord,
    stepTimeoutMs: durationArg(values["step-timeout"], "step-timeout", true) ?? d.stepTimeout,
    promote: values.promote,
    progress: say,
    confirm: values.yes
      ? undefined
      : async (primary) =>
          (await ask(
            `\nThis drill takes ${primary} DOWN for real and fails over to ${node.name}. Type ${primary} to go on: `,
          )) === primary,
  });
  for (const c of failed)
    m.findings.unshift(`prerequisite failed before the drill (--ignore-checks): ${c.check}: ${c.detail}`);
  const r = drillReport(m);
  const dir = values["report-dir"] ? resolve(values["report-dir"]) : join(node.stateDir, "drills");
  const out = writeDrillReport(dir, r);
  if (values.json) printJson({ ...r, report: out });
  else {
    console.log(`\n${renderDrillMarkdown(r)}`);
    console.log(`report: ${out.md} (and ${out.json})`);
  }
  return r.pass ? 0 : 1;
}
