import { resolve } from "node:path";
import { UserError } from "../config/errors";
import { BREAKS, type DrillBreak, runLocalDrill } from "../drill/local";
import { drillReport, renderDrillMarkdown, writeDrillReport } from "../drill/report";
import { COMMON, parse, printJson } from "./args";
import { numberArg } from "./opsArgs";

export async function drillCommand(argv: string[]): Promise<number> {
  const { values } = parse(
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
    },
    "drill",
  );
  if (!values.local)
    throw new UserError(
      "only the local drill exists yet: understudy drill --local [--fast] (two nodes on this machine, no cloud account)",
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
