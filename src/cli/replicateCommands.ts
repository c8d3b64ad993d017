import { join } from "node:path";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { requireRole } from "../failover/roles";
import { type FollowState, readFollowState } from "../follower/state";
import { judgeFollowState, judgeReplicateState, nodeSummary } from "../health/summary";
import { type NodeState, readNodeState } from "../node/state";
import { Replicator } from "../replicate/replicator";
import { type ReplicateState, readReplicateState } from "../replicate/state";
import { verifyStore } from "../replicate/verify";
import { openStore } from "../store/open";
import { formatAge } from "../util/duration";
import { processAlive } from "../util/process";
import { formatSize } from "../util/size";
import { renderTable } from "../util/table";
import { COMMON, config, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";
import { followRows, followSummary } from "./followCommands";
import { durationArg } from "./opsArgs";

export async function replicateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, "metrics-listen": { type: "string" } }, "replicate");
  const cfg = config(values);
  const node = selectNode(cfg, { name: values.node, role: "primary" });
  // A standby in the config may be the primary now (promoted); a primary in the config is judged by its lease.
  if (node.role === "standby") await requireRole(cfg, node, "primary", "understudy replicate");
  if (values["metrics-listen"]) listenAddress(values["metrics-listen"], "--metrics-listen");
  const log = daemonLog({ role: "replicate", node: node.name });
  const r = new Replicator(cfg, node, { log, metricsListen: values["metrics-listen"] });
  // A stop may come while it still waits for the lease: it must be as prompt then as later.
  const signalled = untilSignal();
  const started = await Promise.race([r.start().then(() => true), signalled.then(() => false)]);
  if (!started) {
    log.info("stopping before the lease was taken");
    await r.stop();
    return 0;
  }
  log.info(
    {
      databases: cfg.databases.length,
      config: r.configPath,
      metrics: r.metricsAddress(),
      state: join(node.stateDir, "replicate-state.json"),
    },
    "replicating",
  );
  log.info({ signal: await signalled }, "stopping: passing SIGTERM to litestream");
  await r.stop();
  return 0;
}

export function statusRows(s: ReplicateState, now = Date.now()): string[][] {
  const rows = [["DATABASE", "TIER", "ON DISK", "GENERATION", "POSITION", "LAST UPLOAD", "UPLOADS", "LAST ERROR"]];
  for (const d of s.databases)
    rows.push([
      d.name,
      d.tier,
      d.present ? "yes" : "MISSING",
      d.generation ?? "-",
      d.position?.split("/")[1] ?? "-",
      d.lastUploadAt ? `${formatAge(now - Date.parse(d.lastUploadAt))} ago` : "never",
      String(d.uploads),
      d.lastError ? `${formatAge(now - Date.parse(d.lastError.at))} ago: ${d.lastError.message}` : "",
    ]);
  return rows;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMON, "status");
  const cfg = config(values);
  const nodes = values.node ? [selectNode(cfg, { name: values.node })] : cfg.nodes;
  const found: {
    node: string;
    replicate?: ReplicateState & { running: boolean };
    follow?: FollowState & { running: boolean };
    run?: NodeState & { running: boolean };
  }[] = [];
  for (const n of nodes) {
    // The role the lease gave the node (as its own daemons last recorded it), not the config's first one.
    const role = nodeSummary(n).role;
    const rep = role === "primary" ? readReplicateState(n.stateDir) : undefined;
    const read = role === "standby" ? readFollowState(n.stateDir) : {};
    if (read.problem) throw new UserError(read.problem, 1);
    const fol = read.state;
    const daemon = readNodeState(n.stateDir);
    if (daemon) found.push({ node: n.name, run: { ...daemon, running: processAlive(daemon.pid) } });
    if (rep)
      found.push({
        node: n.name,
        replicate: { ...rep, running: processAlive(rep.pid) },
      });
    if (fol) found.push({ node: n.name, follow: { ...fol, running: processAlive(fol.pid) } });
  }
  if (!found.length) {
    const msg = `no state on this machine for ${nodes.map((n) => `${n.name} (${n.stateDir})`).join(", ")}: neither understudy replicate nor understudy follow has run here`;
    if (values.json) printJson({ running: false, error: msg });
    else console.log(msg);
    return 1;
  }
  let ok = true;
  for (const f of found) {
    if (f.run) {
      const d = f.run;
      const stuck = !d.running || d.role === "superseded" || d.role === "stopped";
      ok &&= !stuck;
      if (values.json) continue;
      const lease =
        d.holder !== undefined
          ? ` | lease: ${d.holder} epoch ${d.epoch}${d.leaseExpiresAt ? `, expires ${d.leaseExpiresAt}` : ""}`
          : "";
      const checks = d.primaryCheck.failures
        ? ` | ${d.primaryCheck.failures} failed check(s) of the primary: ${d.primaryCheck.lastError}`
        : "";
      console.log(
        `node ${d.node}: understudy run pid ${d.pid} ${d.running ? "running" : "NOT RUNNING"} | ${d.role.toUpperCase()} since ${d.since} | failover ${d.mode}${lease}${checks}${d.waitingFor ? ` | waiting for ${d.waitingFor}` : ""}\n`,
      );
      continue;
    }
    if (f.replicate) {
      const s = f.replicate;
      const judged = judgeReplicateState(s, s.running);
      ok &&= judged.running && judged.problems.length === 0;
      if (values.json) {
        Object.assign(s, { running: judged.running, problems: judged.problems });
        continue;
      }
      const ls = s.litestream;
      console.log(
        `node ${s.node} → ${s.store} | replicate pid ${s.pid} ${judged.running ? "running" : "NOT RUNNING"} | litestream ${ls.version ?? ""} ${ls.status}${ls.pid ? ` (pid ${ls.pid})` : ""}, ${ls.restarts} restarts${ls.waitingFor ? ` | waiting for ${ls.waitingFor}` : ""}${s.lease?.epoch !== undefined ? ` | lease: ${s.lease.holder} epoch ${s.lease.epoch}${s.lease.fenced ? " FENCED" : `, expires ${s.lease.expiresAt}`}` : ""} | updated ${formatAge(Date.now() - Date.parse(s.updatedAt))} ago\n`,
      );
      console.log(renderTable(statusRows(s)));
      const missing = s.databases.filter((d) => !d.present).length;
      console.log(
        `\n${s.databases.length} databases, ${s.databases.filter((d) => d.lastUploadAt).length} uploading, ${missing} missing on disk, ${judged.withErrors} with a current error`,
      );
      if (judged.problems.length) console.log(`problems:\n${judged.problems.map((p) => `  - ${p}`).join("\n")}`);
      console.log("");
    }
    if (f.follow) {
      const s = f.follow;
      const judged = judgeFollowState(s, s.running);
      const lagOk = judged.worstLagMs !== undefined && judged.worstLagMs <= cfg.health.readyLag;
      if (judged.worstLagMs !== undefined && !lagOk)
        judged.problems.push(
          `worst lag ${formatAge(judged.worstLagMs)} (${judged.worstDb}) exceeds ${formatAge(cfg.health.readyLag)} (health.ready-lag)`,
        );
      ok &&= judged.problems.length === 0 && lagOk;
      if (values.json) {
        Object.assign(s, { problems: judged.problems, worstLagMs: judged.worstLagMs });
        continue;
      }
      console.log(`${followSummary(s)}${judged.running ? "" : " | NOT RUNNING"}\n`);
      console.log(renderTable(followRows(s)));
      console.log(
        `\n${s.databases.length} followed databases, ${judged.following} following, ${judged.stalled} stalled or damaged, worst lag ${judged.worstLagMs === undefined ? `unknown (${judged.worstDb ?? "no copy yet"})` : `${(judged.worstLagMs / 1000).toFixed(1)}s`}`,
      );
      if (judged.problems.length) console.log(`problems:\n${judged.problems.map((p) => `  - ${p}`).join("\n")}`);
      console.log("");
    }
  }
  if (values.json) printJson(found.length === 1 ? (found[0].replicate ?? found[0].follow ?? found[0].run) : found);
  return ok ? 0 : 1;
}

export async function verifyCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, timeout: { type: "string" }, shallow: { type: "boolean" } }, "verify");
  const cfg = config(values);
  const node = values.node ? selectNode(cfg, { name: values.node }) : cfg.nodes.find((n) => n.role === "primary");
  const timeoutMs = durationArg(values.timeout, "--timeout", true) ?? 60_000;
  const store = await openStore(cfg.store);
  const r = await verifyStore(cfg, store, node, new Date(), { chain: !values.shallow, timeoutMs });
  if (values.json) printJson(r);
  else {
    const rows = [
      ["DATABASE", "TIER", "GENS", "SNAPSHOT AGE", "WAL SEGS", "NEWEST WAL", "WAL AGE", "STORED", "STATUS"],
    ];
    for (const x of r.rows)
      rows.push([
        x.name,
        x.tier,
        String(x.generations),
        x.newestSnapshotAgeMs !== undefined ? formatAge(x.newestSnapshotAgeMs) : "-",
        String(x.walSegments),
        x.newestWal ?? "-",
        x.newestWalAgeMs !== undefined ? formatAge(x.newestWalAgeMs) : "-",
        formatSize(x.bytes),
        x.status === "ok" ? "ok" : `${x.status.toUpperCase()}${x.critical ? "" : " (warn)"}: ${x.detail}`,
      ]);
    console.log(`store ${r.store}\n`);
    console.log(renderTable(rows));
    const bad = r.rows.filter((x) => x.status !== "ok");
    console.log(
      `\n${r.rows.length} replicas: ${r.rows.length - bad.length} ok, ${bad.length} with problems, ${r.failures.length} of them in a critical tier${r.failures.length ? " → FAILED" : ""}`,
    );
  }
  return r.failures.length ? 1 : 0;
}
