import { selectNode } from "../config/load";
import { runDoctor } from "../doctor/checks";
import { COMMON, config, parse, printJson } from "./args";

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, { ...COMMON, peer: { type: "string" } }, "doctor");
  const cfg = config(v);
  const node = selectNode(cfg, { name: v.node });
  const checks = await runDoctor(cfg, node, { peerUrl: v.peer });
  if (v.json) printJson(checks);
  else {
    console.log(`understudy doctor on ${node.name} (${node.role})`);
    for (const c of checks)
      console.log(
        `${c.status.toUpperCase().padEnd(5)} ${c.check.padEnd(12)} ${c.detail}${c.fix ? `\n${" ".repeat(19)}fix: ${c.fix}` : ""}`,
      );
  }
  return checks.some((c) => c.status === "fail") ? 1 : 0;
}
