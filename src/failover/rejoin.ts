import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { Logger } from "pino";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { ROWID_TABLES_SQL } from "../fleet/rowHash";
import { buildFromReplica } from "../follower/build";
import { buildFromLtx } from "../follower/buildLtx";
import { currentFormat } from "../litestream/format";
import { positionTxid } from "../replica/ltxLayout";
import { openStore, replicaPrefix } from "../store/open";
import type { ReplicaStore } from "../store/store";
import { writeFileAtomic } from "../util/atomic";
import { DirLock } from "../util/dirLock";
import { UserError } from "../util/errors";
import { readEpochFile } from "./holder";
import { Lease } from "./lease";

export interface RejoinDatabase {
  name: string;
  /** Upload time of the last segment this node's epoch got into the store. */
  lastUploadAt?: string;
  /** When this node last wrote the file. */
  lastWriteAt: string;
  /** Per table: rows here beyond what the store got (by rowid), i.e. written after the last upload. */
  unreplicated: Record<string, number>;
  /** Set when the store's copy could not be rebuilt to compare with (then everything is kept aside anyway). */
  compareError?: string;
}

export interface RejoinReport {
  node: string;
  /** When the databases were set aside. */
  at: string;
  /** Who holds the lease now. */
  primary: string;
  epoch: number;
  /** Where this node's databases were moved, whole (with -wal, -shm and Litestream's own files). */
  setAside: string;
  databases: RejoinDatabase[];
}

/** The last rejoin report of `node`, published in the store. */
export function rejoinKey(prefix: string, node: string): string {
  return `${prefix}.understudy/rejoin-${node}.json`;
}

/** The last rejoin report `node` published; undefined when it has none (or it is unreadable). */
export async function readRejoinReport(
  store: ReplicaStore,
  prefix: string,
  node: string,
): Promise<RejoinReport | undefined> {
  const b = await store.getIfExists(rejoinKey(prefix, node));
  if (!b) return undefined;
  try {
    const r = JSON.parse(b.toString("utf8")) as RejoinReport;
    return r.node === node && Array.isArray(r.databases) ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A returning old primary becomes a standby of the new one (the plan's step 7, "no duplicate writes"). It must
 * have been superseded (another node holds the lease at a later epoch) and its replicate must not run. Each of
 * its databases is compared with what its own epoch got into the store — rows beyond that, per table, and the time
 * range — then moved aside whole, never deleted, with the report beside it. `understudy follow` then builds fresh
 * copies from the new primary; `promote` (or a later switchover) makes this node the primary again: failback.
 */
export async function rejoin(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  log: Logger,
  /** What this node's replicate last recorded per database (its replicate-state.json), when there is any. */
  uploaded: { name: string; generation?: string; position?: string; lastUploadAt?: string }[] = [],
): Promise<RejoinReport> {
  const store = await openStore(cfg.store);
  const lease = new Lease(store, cfg.store.prefix, node.name, {
    ttlMs: cfg.failover.leaseTtl,
    maxSkewMs: cfg.failover.maxClockSkew,
  });
  const { record } = await lease.read();
  if (!record) throw new UserError("no node holds the lease: there is no primary to rejoin");
  if (record.holder === node.name)
    throw new UserError(`${node.name} holds the lease (epoch ${record.epoch}): it is the primary, nothing to rejoin`);
  const pid = DirLock.holder(node.dataDir, "replicate");
  if (pid !== undefined)
    throw new UserError(
      `understudy replicate (pid ${pid}) still runs on ${node.dataDir}: stop it (and its service) first`,
    );
  const mineEpoch = readEpochFile(join(node.stateDir, "lease-epoch"));
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const setAside = join(dirname(node.dataDir), `${basename(node.dataDir)}.set-aside-epoch${record.epoch}-${stamp}`);
  const scratch = join(setAside, ".compare");
  mkdirSync(scratch, { recursive: true });
  const databases: RejoinDatabase[] = [];
  for (const db of cfg.databases) {
    const path = join(node.dataDir, db.name);
    if (!existsSync(path)) continue;
    const mine = uploaded.find((d) => d.name === db.name);
    const row: RejoinDatabase = {
      name: db.name,
      lastUploadAt: mine?.lastUploadAt,
      lastWriteAt: newestWrite(path).toISOString(),
      unreplicated: {},
    };
    try {
      // What this node's own generation holds in the store: the last state anyone else can have seen.
      const stored = join(scratch, db.name);
      const prefix = replicaPrefix(cfg.store, db.replicaPath);
      const txid = positionTxid(mine?.position);
      const v5 = txid !== undefined || (!mine?.generation && (await currentFormat(store, prefix)) === "0.5");
      if (!v5) await buildFromReplica(store, prefix, stored, { generation: mine?.generation, stopAtBreak: true });
      // 0.5 keeps one history across epochs. This node's part of it: exactly what the store had when the lease went
      // straight from here to its holder (this node was fenced before); else up to the TXID its replicate last
      // saw uploaded (may lag by a sync).
      else if (mineEpoch !== undefined && record.epoch === mineEpoch + 1)
        await buildFromLtx(store, prefix, stored, { at: new Date(record.acquiredAt) });
      else await buildFromLtx(store, prefix, stored, txid !== undefined ? { upTo: txid } : {});
      row.unreplicated = rowsBeyond(path, stored);
    } catch (e) {
      row.compareError = (e as Error).message;
    }
    databases.push(row);
  }
  rmSync(scratch, { recursive: true, force: true });
  // Whole files only, on the same filesystem: a rename moves each at once, and nothing is ever deleted.
  for (const db of cfg.databases) {
    const path = join(node.dataDir, db.name);
    const meta = join(dirname(path), `.${basename(path)}-litestream`);
    for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`, meta])
      if (existsSync(p)) {
        mkdirSync(dirname(join(setAside, relativeTo(node.dataDir, p))), { recursive: true });
        renameSync(p, join(setAside, relativeTo(node.dataDir, p)));
      }
  }
  const report: RejoinReport = {
    node: node.name,
    at: new Date().toISOString(),
    primary: record.holder,
    epoch: record.epoch,
    setAside,
    databases,
  };
  writeFileAtomic(join(setAside, "rejoin-report.json"), `${JSON.stringify(report, null, 2)}\n`);
  // Also in the store, where the new primary's operator (and `drill run` there) can read what was kept aside
  // without logging in here; the file beside the databases stays the record if the store does not answer.
  await store
    .put(rejoinKey(cfg.store.prefix, node.name), Buffer.from(JSON.stringify(report)))
    .catch((e: Error) => log.warn({ err: e.message }, "could not publish the rejoin report to the store"));
  rmSync(join(node.stateDir, "lease-epoch"), { force: true });
  log.info({ setAside, primary: record.holder, epoch: record.epoch }, "databases set aside; follow the new primary");
  return report;
}

function relativeTo(dir: string, p: string): string {
  return p.slice(dir.length + 1);
}

function newestWrite(path: string): Date {
  const times = [path, `${path}-wal`].filter(existsSync).map((p) => statSync(p).mtime.getTime());
  return new Date(Math.max(...times));
}

/** Per table, the rows of `path` whose rowid is above the highest in the same table of `stored`. */
function rowsBeyond(path: string, stored: string): Record<string, number> {
  const out: Record<string, number> = {};
  const local = new Database(path, { readonly: true, timeout: 5000 });
  const theirs = new Database(stored, { readonly: true });
  try {
    const tables = local.prepare(ROWID_TABLES_SQL).pluck().all() as string[];
    for (const t of tables) {
      const q = `"${t.replace(/"/g, '""')}"`;
      const has = theirs.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?").pluck().get(t);
      const max = has ? ((theirs.prepare(`SELECT max(rowid) FROM ${q}`).pluck().get() as number | null) ?? 0) : 0;
      const n = local.prepare(`SELECT count(*) FROM ${q} WHERE rowid > ?`).pluck().get(max) as number;
      if (n) out[t] = n;
    }
  } finally {
    local.close();
    theirs.close();
  }
  return out;
}
