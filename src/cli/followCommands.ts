import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { requireRole } from "../failover/roles";
import { Follower } from "../follower/follower";
import { restoreDatabase } from "../follower/restore";
import type { FollowState } from "../follower/state";
import { CountingStore } from "../store/countingStore";
import { openStore } from "../store/open";
import { formatAge } from "../util/duration";
import { formatSize } from "../util/size";
import { COMMON, checkOutputPath, config, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";

export async function followCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...COMMON, "data-dir": { type: "string" }, "metrics-listen": { type: "string" } },
    "follow",
  );
  const cfg = config(values);
  const base = selectNode(cfg, { name: values.node, role: "standby" });
  await requireRole(cfg, base, "standby", "understudy follow");
  const node = values["data-dir"] ? { ...base, dataDir: resolve(values["data-dir"]) } : base;
  const log = daemonLog({ role: "follow", node: node.name });
  const store = new CountingStore(await openStore(cfg.store));
  const f = new Follower(cfg, node, store, {
    log,
    pollMs: cfg.follow.pollInterval,
    probeMs: cfg.follow.probeInterval,
    concurrency: cfg.follow.concurrency,
  });
  // Takes the data dir's lock first: a second follower must be refused before it binds or touches anything.
  f.start();
  const listen = values["metrics-listen"] ?? cfg.follow.metricsListen;
  if (listen) {
    const { host, port } = listenAddress(listen, "follow.metrics-listen");
    await f.serveMetrics(host, port).catch(async (e: Error) => {
      await f.stop();
      throw new UserError(`follow.metrics-listen ${listen}: ${e.message}`);
    });
  }
  log.info({ databases: f.state.databases.length, dataDir: node.dataDir, store: store.describe() }, "following");
  await untilSignal();
  log.info("stopping");
  await f.stop();
  return 0;
}

export function followRows(s: FollowState, now = Date.now()): string[][] {
  const rows = [
    ["DATABASE", "TIER", "PHASE", "POSITION", "LAG", "LAST APPLIED", "SEGMENTS", "BOOTSTRAPS", "LAST ERROR / EVENT"],
  ];
  for (const d of s.databases)
    rows.push([
      d.name,
      d.tier,
      d.phase,
      // 0.3: the WAL index:offset (the generation has its own field); 0.5: the TXID.
      d.position?.startsWith("txid ") ? d.position : (d.position?.split("/")[1] ?? "-"),
      d.lagMs === undefined ? "-" : `${(d.lagMs / 1000).toFixed(1)}s`,
      d.lastAppliedAt ? `${formatAge(now - Date.parse(d.lastAppliedAt))} ago` : "never",
      String(d.segmentsApplied),
      String(d.bootstraps),
      d.lastError
        ? `ERROR ${d.lastError.message}${d.retryAt ? ` (next try in ${formatAge(Math.max(0, Date.parse(d.retryAt) - now))})` : ""}`
        : (d.lastEvent?.message ?? ""),
    ]);
  return rows;
}

export function followSummary(s: FollowState): string {
  const ops = s.operationsPerMinute;
  return `node ${s.node} follows ${s.store} | pid ${s.pid} | ${s.mode === "manifest" ? `positions published by the primary (${formatAge(s.manifestAgeMs ?? 0)} old)` : s.staleManifestAgeMs !== undefined ? `probing: the primary's positions are ${formatAge(s.staleManifestAgeMs)} old (is understudy replicate running?)` : "probing (no positions published by the primary)"} | store ops/min: ${ops.get ?? 0} GET (${ops.getMissing ?? 0} missing), ${ops.list ?? 0} LIST, ${formatSize(ops.bytesDown ?? 0)} down | updated ${formatAge(Date.now() - Date.parse(s.updatedAt))} ago${s.storeError ? ` | STORE: ${s.storeError}` : ""}`;
}

export async function restoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...COMMON, at: { type: "string" }, output: { type: "string", short: "o" }, force: { type: "boolean" } },
    "restore",
  );
  const name = positionals[0];
  if (!name) throw new UserError("name the database (understudy restore DB -o PATH)");
  const cfg = config(values);
  const db = cfg.databases.find((d) => d.name === name || d.replicaPath === name);
  if (!db) throw new UserError(`${cfg.file}: no database named "${name}"`);
  const out = values.output ?? `${db.name}.restored`;
  checkOutputPath(out, "-o");
  if (existsSync(out) && !values.force) throw new UserError(`${out} already exists; pass --force to overwrite it`);
  let at: Date | undefined;
  if (values.at) {
    at = new Date(values.at);
    if (Number.isNaN(at.getTime()))
      throw new UserError(`--at "${values.at}" is not a time; write it like 2026-11-29T04:05:00Z`);
  }
  const tty = process.stderr.isTTY && !values.json;
  const result = await restoreDatabase(cfg, db, out, {
    at,
    onProgress: (p) => {
      if (!tty) return;
      const width = 30;
      const filled = Math.round((p.done / p.total) * width);
      process.stderr.write(
        `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${p.done}/${p.total} objects, ${formatSize(p.bytes)}`,
      );
    },
  });
  if (tty) process.stderr.write("\n");
  if (values.json) printJson(result);
  else
    console.log(
      `restored ${db.name} to ${out}: ${result.format === "0.5" ? `Litestream 0.5 replica at ${result.position} (data up to ${result.upTo}), ${result.segments} LTX files` : `generation ${result.generation} at ${result.position} (data up to ${result.upTo}), ${result.segments} segments`}, ${formatSize(result.bytesDownloaded)} downloaded, ${result.rows} rows, integrity ${result.integrity}`,
    );
  return result.integrity === "ok" ? 0 : 1;
}
