import { effective } from "../config/load";
import type { DatabaseConfig, UnderstudyConfig } from "../config/types";

const MONTH_S = 30 * 86_400;
const GB = 1024 ** 3;
/** Azure uploads large blobs in 4 MiB blocks (one Put Block each) plus one Put Block List. */
const BLOCK = 4 * 1024 ** 2;

export interface CostFigures {
  databases: number;
  storageGb: number;
  walPuts: number;
  snapshotPuts: number;
  retentionLists: number;
  /** The positions manifest the primary publishes for the follower (fleet-wide, not per database). */
  manifestPuts: number;
  /** The follower: one manifest read per poll, and each new segment of a followed database once. */
  followerGets: number;
  followerLists: number;
}

export interface CostLine extends CostFigures {
  tier: string;
  storageCost: number;
  writeCost: number;
  listCost: number;
  readCost: number;
  total: number;
}

export interface CostReport {
  currency: string;
  source: string;
  assumptions: string[];
  lines: CostLine[];
  total: CostLine;
  /** The same fleet with every database at a 1 s sync interval, and at 10 s. */
  allAtOneSecond: CostLine;
  allAtTenSeconds: CostLine;
  /** WAL the fleet writes per day under the assumptions (the plan estimated ~500 MB). */
  walBytesPerDay: number;
  /** What the plan priced: storage only. */
  storageOnly: number;
  /** Primary and follower operations each, per month, in the currency. */
  primaryOperationsCost: number;
  followerOperationsCost: number;
  /** The plan's 30 s `litestream restore` loop: listings alone, per month, had it worked. */
  planLoop: { lists: number; cost: number };
}

function writesPerSecond(cfg: UnderstudyConfig, db: DatabaseConfig): number {
  return db.writesPerSecond ?? cfg.cost.writesPerSecond[db.writeFrequency ?? "medium"];
}

function figures(cfg: UnderstudyConfig, db: DatabaseConfig, syncOverride?: number): CostFigures {
  const e = effective(cfg, db);
  const sync = (syncOverride ?? e.syncInterval) / 1000;
  const rate = writesPerSecond(cfg, db);
  // Litestream uploads one segment per sync interval in which anything was written (Poisson arrivals).
  const uploadsPerS = rate > 0 ? (1 - Math.exp(-rate * sync)) / sync : 0;
  const size = db.size ?? 0;
  const snapshotsPerMonth = (MONTH_S * 1000) / e.snapshotInterval;
  const putsPerSnapshot = size > BLOCK ? Math.ceil(size / BLOCK) + 1 : 1;
  const walBytesRetained = rate * cfg.cost.bytesPerWrite * cfg.cost.walCompression * (e.retention / 1000);
  const snapshotsRetained = Math.ceil(e.retention / e.snapshotInterval) + 1;
  return {
    databases: 1,
    storageGb: (walBytesRetained + size * snapshotsRetained) / GB,
    walPuts: uploadsPerS * MONTH_S,
    snapshotPuts: snapshotsPerMonth * putsPerSnapshot,
    // Each retention check lists the generations, then each generation's snapshots and WAL.
    retentionLists: ((MONTH_S * 1000) / e.retentionCheckInterval) * 3,
    manifestPuts: 0,
    followerGets: e.follow ? uploadsPerS * MONTH_S : 0,
    followerLists: 0,
  };
}

function priced(cfg: UnderstudyConfig, tier: string, f: CostFigures): CostLine {
  const p = cfg.cost.prices;
  const storageCost = f.storageGb * p.storagePerGbMonth;
  const writeCost = ((f.walPuts + f.snapshotPuts + f.manifestPuts) / 10_000) * p.writePer10k;
  const listCost = ((f.retentionLists + f.followerLists) / 10_000) * p.listPer10k;
  const readCost = (f.followerGets / 10_000) * p.readPer10k;
  return {
    tier,
    ...f,
    storageCost,
    writeCost,
    listCost,
    readCost,
    total: storageCost + writeCost + listCost + readCost,
  };
}

function add(a: CostFigures, b: CostFigures): CostFigures {
  return {
    databases: a.databases + b.databases,
    storageGb: a.storageGb + b.storageGb,
    walPuts: a.walPuts + b.walPuts,
    snapshotPuts: a.snapshotPuts + b.snapshotPuts,
    retentionLists: a.retentionLists + b.retentionLists,
    manifestPuts: a.manifestPuts + b.manifestPuts,
    followerGets: a.followerGets + b.followerGets,
    followerLists: a.followerLists + b.followerLists,
  };
}

const ZERO: CostFigures = {
  databases: 0,
  storageGb: 0,
  walPuts: 0,
  snapshotPuts: 0,
  retentionLists: 0,
  manifestPuts: 0,
  followerGets: 0,
  followerLists: 0,
};

/** Monthly cost of the store for the configured fleet: storage per retention tier and every kind of operation. */
export function estimateCost(cfg: UnderstudyConfig): CostReport {
  const byTier = new Map<string, CostFigures>();
  let all = ZERO;
  let oneSecond = ZERO;
  let tenSeconds = ZERO;
  let walBytesPerDay = 0;
  for (const db of cfg.databases) {
    const f = figures(cfg, db);
    byTier.set(db.tier, add(byTier.get(db.tier) ?? ZERO, f));
    all = add(all, f);
    oneSecond = add(oneSecond, figures(cfg, db, 1000));
    tenSeconds = add(tenSeconds, figures(cfg, db, 10_000));
    walBytesPerDay += writesPerSecond(cfg, db) * cfg.cost.bytesPerWrite * cfg.cost.walCompression * 86_400;
  }
  // Fleet-wide: the primary publishes at most once per publish interval while anything uploads, and the
  // follower reads the manifest once per poll.
  const anyUploadsPerS = all.walPuts / MONTH_S;
  const publishesPerS =
    cfg.replicate.publishInterval > 0 ? Math.min(1000 / cfg.replicate.publishInterval, anyUploadsPerS) : 0;
  const fleetWide: CostFigures = {
    ...ZERO,
    manifestPuts: publishesPerS * MONTH_S,
    followerGets: publishesPerS > 0 ? (MONTH_S * 1000) / cfg.follow.pollInterval : 0,
  };
  all = add(all, fleetWide);
  oneSecond = add(oneSecond, fleetWide);
  tenSeconds = add(tenSeconds, fleetWide);
  const followed = cfg.databases.filter((d) => effective(cfg, d).follow).length;
  const planLoopLists = followed * ((MONTH_S * 1000) / cfg.cost.standbyPollInterval) * cfg.cost.standbyListsPerPoll;
  const lines = [...cfg.tiers.keys()]
    .filter((t) => byTier.has(t))
    .map((t) => priced(cfg, t, byTier.get(t) as CostFigures));
  const total = priced(cfg, "total", all);
  const w = cfg.cost.writesPerSecond;
  return {
    currency: cfg.cost.prices.currency,
    source: cfg.cost.prices.source,
    assumptions: [
      `writes per second by inventory class: very-high ${w["very-high"]}, high ${w.high}, medium ${w.medium}, low ${w.low} (cost.writes-per-second)`,
      `${cfg.cost.bytesPerWrite} bytes of WAL per write, ${cfg.cost.walCompression} of it left after LZ4 (cost.bytes-per-write, cost.wal-compression)`,
      "one WAL segment PUT per sync interval in which anything was written; snapshots as 4 MiB blocks",
      `the follower reads the positions manifest every ${cfg.follow.pollInterval / 1000}s (published at most every ${cfg.replicate.publishInterval / 1000}s) and downloads each new segment once, listing nothing in steady state`,
      `the plan's restore loop would list ${cfg.cost.standbyListsPerPoll} times per followed database every ${cfg.cost.standbyPollInterval / 1000}s (cost.standby-poll-interval, cost.standby-lists-per-poll)`,
    ],
    lines,
    total,
    allAtOneSecond: priced(cfg, "all at 1s", oneSecond),
    allAtTenSeconds: priced(cfg, "all at 10s", tenSeconds),
    walBytesPerDay,
    storageOnly: total.storageCost,
    primaryOperationsCost:
      ((total.walPuts + total.snapshotPuts + total.manifestPuts) / 10_000) * cfg.cost.prices.writePer10k +
      (total.retentionLists / 10_000) * cfg.cost.prices.listPer10k,
    followerOperationsCost:
      (total.followerGets / 10_000) * cfg.cost.prices.readPer10k +
      (total.followerLists / 10_000) * cfg.cost.prices.listPer10k,
    planLoop: { lists: planLoopLists, cost: (planLoopLists / 10_000) * cfg.cost.prices.listPer10k },
  };
}
