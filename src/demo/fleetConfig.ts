import type { InventoryEntry } from "../fleet/inventory";
import { AZURITE_ACCOUNT } from "./azurite";

export interface FleetConfigOptions {
  dataDir: string;
  standbyDir: string;
  stateDir: string;
  store: { type: "file"; path: string } | { type: "abs"; endpoint: string; container: string; keyEnv: string };
  inventory: Pick<InventoryEntry, "name" | "tier" | "size" | "writeFrequency">[];
  litestreamMetricsAddr: string;
  /** A Litestream binary other than the one found by default (bundled, PATH, Homebrew). */
  litestreamBinary?: string;
  metricsListen?: string;
  /** Overrides every tier's sync interval (benchmarks and tests that want speed). */
  syncInterval?: string;
  restartBackoffMin?: string;
  /** Each node's health-url (where its `health serve` answers), for tests and drills that check the peer. */
  healthUrls?: { primary?: string; standby?: string };
}

/** An understudy.yml for a local fleet: what the demo, the tests and the benchmarks run against. */
export function fleetConfigYaml(o: FleetConfigOptions): string {
  const s = o.store;
  const store =
    s.type === "file"
      ? ["store:", "  type: file", `  path: ${JSON.stringify(s.path)}`, "  prefix: litestream/"]
      : [
          "store:",
          "  type: abs",
          `  account: ${AZURITE_ACCOUNT}`,
          `  container: ${s.container}`,
          "  prefix: litestream/",
          `  endpoint: ${s.endpoint}`,
          `  account-key: env:${s.keyEnv}`,
        ];
  const sync = (d: string) => o.syncInterval ?? d;
  return [
    "version: 1",
    "nodes:",
    "  primary:",
    "    role: primary",
    ...(o.healthUrls?.primary ? [`    health-url: ${o.healthUrls.primary}`] : []),
    `    data-dir: ${JSON.stringify(o.dataDir)}`,
    `    state-dir: ${JSON.stringify(o.stateDir)}`,
    "  standby:",
    "    role: standby",
    ...(o.healthUrls?.standby ? [`    health-url: ${o.healthUrls.standby}`] : []),
    `    data-dir: ${JSON.stringify(o.standbyDir)}`,
    ...store,
    "litestream:",
    ...(o.litestreamBinary ? [`  binary: ${JSON.stringify(o.litestreamBinary)}`] : []),
    `  metrics-addr: ${o.litestreamMetricsAddr}`,
    "replicate:",
    `  metrics-listen: "${o.metricsListen ?? ""}"`,
    `  restart-backoff-min: ${o.restartBackoffMin ?? "1s"}`,
    "tiers:",
    `  P0-critical:  { retention: 7d,  sync-interval: ${sync("1s")}, follow: true, critical: true }`,
    `  P0-financial: { retention: 30d, sync-interval: ${sync("1s")}, follow: true, critical: true }`,
    `  P1:           { retention: 72h, sync-interval: ${sync("1s")}, follow: true }`,
    `  P2:           { retention: 24h, sync-interval: ${sync("10s")}, follow: false }`,
    "databases:",
    ...o.inventory.map((e) => `  - { name: ${e.name}, tier: ${e.tier}, size: ${e.size}, writes: ${e.writeFrequency} }`),
    "",
  ].join("\n");
}
