import { resolve } from "node:path";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { drillCheck } from "../drill/check";
import { BREAKS, type DrillBreak, runLocalDrill } from "../drill/local";
import { drillReport, renderDrillMarkdown, writeDrillReport } from "../drill/report";
import { renderTable } from "../util/table";
import { COMMON, config, parse, printJson } from "./args";
import { numberArg } from "./opsArgs";

export async function drillCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...COMMON,
      local: { type: "boolean", default: false },
      fast: { type: "boolean", default: false },
      manual: { type: "boolean", default: false },
      scale: { type: "string", default: "0.0005" },
      keep: { type: "boolean", default: false },
      "report-dir": { type: "string", default: "drills" },
      break: { type: "string" },
      "ping-slack": { type: "boolean", default: false },
    },
    "drill",
  );
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
  if (positionals.length) throw new UserError(`unknown drill subcommand "${positionals[0]}": check, or --local`);
  if (!values.local)
    throw new UserError(
      "say which drill: understudy drill --local [--fast] (two nodes on this machine, no cloud account), or understudy drill check on the real pair",
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
    progress: (line) => {
      if (!values.json) process.stderr.write(`${line}\n`);
    },
  });
  const r = drillReport(m);
  const out = writeDrillReport(resolve(values["report-dir"] as string), r);
  if (values.json) printJson({ ...r, report: out });
  else {
    console.log(`\n${renderDrillMarkdown(r)}`);
    console.log(`report: ${out.md} (and ${out.json})${m.error || values.keep ? `; the drill's files: ${dir}` : ""}`);
  }
  return r.pass ? 0 : 1;
}
