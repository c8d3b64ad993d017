import type { CostConfig, FollowConfig, LitestreamConfig, ReplicateConfig, TierConfig } from "./types";

const H = 3_600_000;
const D = 24 * H;

/** The plan's tiers (section 1.2): retention per tier, 1 s sync for P0/P1, 10 s for P2, hourly retention checks. */
export function planTiers(): Map<string, TierConfig> {
  const t = (name: string, retention: number, syncInterval: number, follow: boolean): TierConfig => ({
    name,
    retention,
    syncInterval,
    retentionCheckInterval: H,
    snapshotInterval: D,
    follow,
    critical: name.startsWith("P0"),
  });
  return new Map([
    ["P0-critical", t("P0-critical", 7 * D, 1000, true)],
    ["P0-financial", t("P0-financial", 30 * D, 1000, true)],
    ["P1", t("P1", 72 * H, 1000, true)],
    ["P2", t("P2", 24 * H, 10_000, false)],
  ]);
}

export const DEFAULT_LITESTREAM: LitestreamConfig = {
  format: "auto",
  metricsAddr: "127.0.0.1:9091",
};

export const DEFAULT_REPLICATE: ReplicateConfig = {
  metricsListen: "127.0.0.1:9810",
  publishInterval: 1000,
  gapCheckInterval: 60_000,
  restartBackoffMin: 1000,
  restartBackoffMax: 60_000,
};

export const DEFAULT_FOLLOW: FollowConfig = {
  pollInterval: 500,
  probeInterval: 10_000,
  // Segments are fetched one after another per database; enough databases in flight hide the store's latency.
  concurrency: 32,
  metricsListen: "127.0.0.1:9811",
};

export const DEFAULT_COST: CostConfig = {
  prices: {
    currency: "EUR",
    source:
      "Azure Blob Storage list prices for block blobs, Hot tier, LRS (write and list operations 0.05, reads 0.004 per 10,000); storage at the plan's own 0.02/GB-month. Set cost.prices to your region's current prices.",
    storagePerGbMonth: 0.02,
    writePer10k: 0.05,
    listPer10k: 0.05,
    readPer10k: 0.004,
  },
  // Calibrated so the fleet writes about the plan's own estimate of ~500 MB of WAL a day (section 1.2).
  writesPerSecond: { "very-high": 0.5, high: 0.1, medium: 0.02, low: 0.002 },
  bytesPerWrite: 4096 + 24,
  walCompression: 0.5,
  standbyPollInterval: 30_000,
  standbyListsPerPoll: 3,
};
