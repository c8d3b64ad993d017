import type { StoreConfig } from "../config/types";
import { absBackend } from "./absBackend";
import type { StoreBackend } from "./backend";
import { fileBackend } from "./fileBackend";
import type { ReplicaStore } from "./store";

/** The configured store's backend: the one place that looks at the store's type. */
export function storeBackend(cfg: StoreConfig): StoreBackend {
  return cfg.type === "file" ? fileBackend(cfg) : absBackend(cfg);
}

/** Opens the configured store, resolving its secret references now (never earlier, never into a file). */
export function openStore(cfg: StoreConfig): Promise<ReplicaStore> {
  return storeBackend(cfg).open();
}

/** The key prefix of one database's replica: what Litestream's `path` is for that replica. */
export function replicaPrefix(store: StoreConfig, replicaPath: string): string {
  return `${store.prefix}${replicaPath}`;
}
