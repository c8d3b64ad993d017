import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { promote } from "../failover/promote";
import { rejoin } from "../failover/rejoin";
import { switchover } from "../failover/switchover";
import { NodeDaemon } from "../node/daemon";
import { primaryHealthUrl, standbyNotReady } from "../node/primaryCheck";
import { readReplicateState } from "../replicate/state";
import { formatAge } from "../util/duration";
import { renderTable } from "../util/table";
import { COMMON, config, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";
import { durationArg } from "./opsArgs";

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
  if (r.restored.length)
    console.log(
      `\nrestored from the store (their tier does not follow): ${r.restored.map((d) => `${d.name} (${d.rows} rows, up to ${d.upTo ?? "?"})`).join(", ")}`,
    );
  if (r.notFollowed.length)
    console.log(
      `\nNOT on this node (their tier does not follow and the restore failed): ${r.notFollowed.join(", ")} — \`understudy restore DB -o PATH\``,
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

export async function switchoverCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...COMMON, to: { type: "string" }, reason: { type: "string" }, timeout: { type: "string" } },
    "switchover",
  );
  if (!values.to) throw new UserError("name the node to hand over to: understudy switchover --to NODE");
  const cfg = config(values);
  const to = selectNode(cfg, { name: values.to });
  const url = primaryHealthUrl(cfg, to);
  const r = await switchover(cfg, to.name, {
    reason: values.reason,
    timeoutMs: durationArg(values.timeout, "timeout", true),
    // Only to a standby that is caught up (Patroni's rule): its own /standby endpoint says so.
    candidateReady: url ? () => standbyNotReady(url, cfg.health.readyLag) : undefined,
    onProgress: values.json ? undefined : (p) => console.log(`${(p.at / 1000).toFixed(1).padStart(6)}s  ${p.what}`),
  });
  if (values.json) printJson(r);
  else
    console.log(
      `\nswitchover done in ${(r.ms / 1000).toFixed(1)}s: ${r.to} is the primary at epoch ${r.epoch}; ${r.from} set its databases aside and follows it`,
    );
  return 0;
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, "metrics-listen": { type: "string" } }, "run");
  const cfg = config(values);
  const node = selectNode(cfg, { name: values.node });
  if (values["metrics-listen"]) listenAddress(values["metrics-listen"], "--metrics-listen");
  const log = daemonLog({ role: "run", node: node.name });
  const d = new NodeDaemon(cfg, node, { log, metricsListen: values["metrics-listen"] });
  const signalled = untilSignal();
  await Promise.race([d.start(), signalled]);
  log.info({ signal: await signalled }, "stopping");
  await d.stop();
  return 0;
}
