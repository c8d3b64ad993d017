import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join, resolve } from "node:path";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { digestDatabase } from "../fleet/rowHash";
import { buildFromReplica } from "../follower/build";
import { FOLLOW_STATE_FILE, Follower, type FollowState } from "../follower/follower";
import { renderFollowMetrics } from "../follower/metrics";
import { formatWalPosition } from "../replica/layout";
import { CountingStore } from "../store/countingStore";
import { openStore, replicaPrefix } from "../store/open";
import { formatAge } from "../util/duration";
import { listenHttp, safeHandler } from "../util/net";
import { formatSize } from "../util/size";
import { COMMON, checkOutputPath, config, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";

export async function followCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...COMMON, "data-dir": { type: "string" }, "metrics-listen": { type: "string" } },
    "follow",
  );
  const cfg = config(values);
  const base = selectNode(cfg, { name: values.node, role: "standby", runs: "understudy follow" });
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
  const server = listen
    ? createServer(
        safeHandler((req, res) => {
          if (req.url === "/metrics") {
            res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
            res.end(renderFollowMetrics(f.state));
          } else res.writeHead(404).end();
        }),
      )
    : undefined;
  if (server) {
    const { host, port } = listenAddress(listen, "follow.metrics-listen");
    await listenHttp(server, host, port).catch((e: Error) => {
      throw new UserError(`follow.metrics-listen ${listen}: ${e.message}`);
    });
  }
  log.info({ databases: f.state.databases.length, dataDir: node.dataDir, store: store.describe() }, "following");
  await untilSignal();
  log.info("stopping");
  await f.stop();
  server?.close();
  return 0;
}

export function readFollowState(stateDir: string): FollowState | undefined {
  const f = join(stateDir, FOLLOW_STATE_FILE);
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as FollowState) : undefined;
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
      d.position?.split("/")[1] ?? "-",
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
  const store = await openStore(cfg.store);
  const tty = process.stderr.isTTY && !values.json;
  const tmp = `${out}.tmp-${process.pid}`;
  const r = await buildFromReplica(store, replicaPrefix(cfg.store, db.replicaPath), tmp, {
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
  const { renameSync } = await import("node:fs");
  renameSync(tmp, out);
  const d = digestDatabase(out);
  const result = {
    database: db.name,
    output: out,
    generation: r.generation.id,
    position: formatWalPosition(r.position.index, r.position.offset),
    upTo: r.position.sourceUploadedAt,
    segments: r.segments,
    bytesDownloaded: r.bytesDownloaded,
    rows: d.rows,
    integrity: d.integrity,
  };
  if (values.json) printJson(result);
  else
    console.log(
      `restored ${db.name} to ${out}: generation ${result.generation} at ${result.position} (data up to ${result.upTo}), ${r.segments} segments, ${formatSize(r.bytesDownloaded)} downloaded, ${d.rows} rows, integrity ${d.integrity}`,
    );
  return d.integrity === "ok" ? 0 : 1;
}
