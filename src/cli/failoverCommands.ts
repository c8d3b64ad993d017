import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { promote } from "../failover/promote";
import { rejoin } from "../failover/rejoin";
import { readReplicateState } from "../replicate/state";
import { formatAge } from "../util/duration";
import { renderTable } from "../util/table";
import { COMMON, config, daemonLog, parse, printJson } from "./args";

export async function promoteCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, force: { type: "boolean" }, reason: { type: "string" } }, "promote");
  if (values.force && !values.reason?.trim())
    throw new UserError("--force takes the lease from a node that may still be writing: say why with --reason TEXT");
  const cfg = config(values);
  const node = selectNode(cfg, { name: values.node, role: "standby" });
  const r = await promote(cfg, node, {
    log: daemonLog({ role: "promote", node: node.name }),
    force: values.force,
    reason: values.reason,
  });
  if (values.json) {
    printJson(r);
    return r.steps.every((s) => s.ok) ? 0 : 1;
  }
  console.log(
    `\n${node.name} is the primary at epoch ${r.epoch}${r.previous ? ` (was ${r.previous.holder}, epoch ${r.previous.epoch})` : ""}\n`,
  );
  console.log(
    renderTable([
      ["STEP", "TOOK", "RESULT"],
      ...r.steps.map((s) => [s.step, `${(s.ms / 1000).toFixed(1)}s`, `${s.ok ? "" : "FAILED: "}${s.detail}`]),
    ]),
  );
  console.log(
    `\n${renderTable([
      ["DATABASE", "APPLIED UP TO", "OLD PRIMARY'S LAST CHANGE", "AT MOST LOST", "COPY"],
      ...r.databases.map((d) => [
        d.name,
        d.appliedUpTo ?? "-",
        d.primaryChangedAt ?? "unknown",
        d.atRiskMs === undefined ? "unknown" : d.atRiskMs === 0 ? "nothing" : formatAge(d.atRiskMs),
        `${d.phase}, quick_check ${d.quickCheck || "-"}`,
      ]),
    ])}`,
  );
  if (r.notFollowed.length)
    console.log(
      `\nnot on this node (their tier does not follow): ${r.notFollowed.join(", ")} — \`understudy restore DB -o PATH\` if needed`,
    );
  console.log(
    `\nnext: start replicating as the new primary: understudy replicate --config ${cfg.file} --node ${node.name} (or load its service)`,
  );
  return r.steps.every((s) => s.ok) ? 0 : 1;
}

export async function rejoinCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMON, "rejoin");
  const cfg = config(values);
  const node = selectNode(cfg, { name: values.node, role: "primary" });
  const r = await rejoin(
    cfg,
    node,
    daemonLog({ role: "rejoin", node: node.name }),
    readReplicateState(node.stateDir)?.databases ?? [],
  );
  if (values.json) {
    printJson(r);
    return 0;
  }
  console.log(`\n${node.name} set its databases aside in ${r.setAside} (report: rejoin-report.json there)\n`);
  console.log(
    renderTable([
      ["DATABASE", "LAST UPLOAD", "LAST WRITE HERE", "ROWS THE STORE NEVER GOT"],
      ...r.databases.map((d) => [
        d.name,
        d.lastUploadAt ?? "never",
        d.lastWriteAt,
        d.compareError
          ? `not compared: ${d.compareError}`
          : Object.entries(d.unreplicated)
              .map(([t, n]) => `${t}: ${n}`)
              .join(", ") || "none",
      ]),
    ]),
  );
  console.log(
    `\nnext: understudy follow --config ${cfg.file} --node ${node.name} builds fresh copies from ${r.primary} (epoch ${r.epoch}); promote it back later to fail back`,
  );
  return 0;
}
