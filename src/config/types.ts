import type { DrillConfig } from "./drillConfig";
import type { FailoverConfig } from "./failoverConfig";
import type { InferenceConfig } from "./inferenceTypes";
import type { DiscoveryConfig, HealthConfig, HeartbeatConfig } from "./opsConfig";
import type { SecretRef } from "./secretRef";
import type { SecretsConfig } from "./secretsConfig";

export type Role = "primary" | "standby";

export interface NodeConfig {
  name: string;
  role: Role;
  address?: string;
  tailscaleAddress?: string;
  /**
   * Where this node's `understudy health serve` answers, e.g. http://100.103.49.98:8099 (default: its address and
   * health.listen's port): a standby in automatic mode checks the primary's /primary there.
   */
  healthUrl?: string;
  dataDir: string;
  /** Where daemons keep state, rendered configs and logs on this node. */
  stateDir: string;
}

export interface TierConfig {
  name: string;
  retention: number;
  syncInterval: number;
  retentionCheckInterval: number;
  /** How often Litestream takes a fresh snapshot; bounds restore time and what verify calls stale. */
  snapshotInterval: number;
  /** Whether the standby keeps a live copy of this tier's databases. */
  follow: boolean;
  /** Litestream's own checkpointing knobs, rendered when set (how often the WAL index rolls over). */
  checkpointInterval?: number;
  minCheckpointPageCount?: number;
  /** Whether `verify` fails (not just warns) when one of this tier's replicas is missing or stale. */
  critical: boolean;
}

export type WriteFrequency = "very-high" | "high" | "medium" | "low";

export interface DatabaseConfig {
  /** File name relative to the node's data dir, e.g. mission-control.db. */
  name: string;
  tier: string;
  /** Path of the replica below the store prefix, e.g. mission-control. */
  replicaPath: string;
  syncInterval?: number;
  retention?: number;
  /** Expected size, for the cost estimate. */
  size?: number;
  /** Expected write rate, for the cost estimate. */
  writeFrequency?: WriteFrequency;
  writesPerSecond?: number;
}

export interface FileStoreConfig {
  type: "file";
  path: string;
  prefix: string;
}

export interface AbsStoreConfig {
  type: "abs";
  account: string;
  container: string;
  prefix: string;
  endpoint?: string;
  accountKey?: SecretRef;
  servicePrincipal?: { tenantId: string; clientId: string; clientSecret: SecretRef };
}

export type StoreConfig = FileStoreConfig | AbsStoreConfig;

export interface LitestreamConfig {
  /** Explicit binary; otherwise the bundled one, else `litestream` on PATH or in Homebrew's places. */
  binary?: string;
  /** A pinned version (`litestream.version`): any other is refused. Unset: any 0.3.x or 0.5.x. */
  expectedVersion?: string;
  /**
   * The replica format the store should hold: auto (whatever the binary writes, as long as the store holds no
   * replicas of the other line), "0.3" or "0.5" (said on purpose: "0.5" over 0.3 replicas is the move to 0.5).
   */
  format: "auto" | "0.3" | "0.5";
  /** Where Litestream serves its own Prometheus metrics (we read them for state). */
  metricsAddr: string;
}

export interface ReplicateConfig {
  metricsListen: string;
  /** How often the primary publishes its positions to the store for the standby (0: never). */
  publishInterval: number;
  /**
   * How often the primary checks that the WAL segments Litestream reported uploading are in the store, and
   * forces a new generation (a fresh snapshot the standby can start from) when some are lost (0: never).
   */
  gapCheckInterval: number;
  restartBackoffMin: number;
  restartBackoffMax: number;
}

export interface FollowConfig {
  pollInterval: number;
  probeInterval: number;
  concurrency: number;
  metricsListen: string;
}

export interface Prices {
  currency: string;
  source: string;
  storagePerGbMonth: number;
  writePer10k: number;
  listPer10k: number;
  readPer10k: number;
}

export interface CostConfig {
  prices: Prices;
  /** Writes per second assumed for each write frequency class of the inventory. */
  writesPerSecond: Record<WriteFrequency, number>;
  /** Bytes of WAL one write produces (a page plus its frame header, typically). */
  bytesPerWrite: number;
  /** Size of a WAL segment after LZ4, as a fraction of the raw WAL. */
  walCompression: number;
  /** The standby's restore loop interval and operations per database per cycle (the plan's loop: 30 s). */
  standbyPollInterval: number;
  standbyListsPerPoll: number;
}

export interface UnderstudyConfig {
  /** The file it came from, for messages. */
  file: string;
  nodes: NodeConfig[];
  store: StoreConfig;
  litestream: LitestreamConfig;
  replicate: ReplicateConfig;
  follow: FollowConfig;
  tiers: Map<string, TierConfig>;
  databases: DatabaseConfig[];
  exclude: string[];
  cost: CostConfig;
  /** Ollama hosts, tier routing and failover rules (the plan's phase 4), when configured. */
  inference?: InferenceConfig;
  health: HealthConfig;
  secrets: SecretsConfig;
  /** How `drill run` takes the primary down and brings it back on the real pair. */
  drill: DrillConfig;
  heartbeat: HeartbeatConfig;
  discovery: DiscoveryConfig;
  failover: FailoverConfig;
}
