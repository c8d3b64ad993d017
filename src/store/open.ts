import type { StoreConfig } from "../config/types";
import { resolveSecret } from "../secrets/resolve";
import { AbsStore } from "./absStore";
import { FileStore } from "./fileStore";
import type { ReplicaStore } from "./store";

/** Opens the configured store, resolving its secret references now (never earlier, never into a file). */
export async function openStore(cfg: StoreConfig): Promise<ReplicaStore> {
  if (cfg.type === "file") return new FileStore(cfg.path);
  const accountKey = cfg.accountKey ? await resolveSecret(cfg.accountKey, "store.account-key") : undefined;
  const sp = cfg.servicePrincipal
    ? {
        tenantId: cfg.servicePrincipal.tenantId,
        clientId: cfg.servicePrincipal.clientId,
        clientSecret: await resolveSecret(cfg.servicePrincipal.clientSecret, "store.service-principal.client-secret"),
      }
    : undefined;
  return new AbsStore(cfg.account, cfg.container, { accountKey, servicePrincipal: sp }, cfg.endpoint);
}

/** The key prefix of one database's replica: what Litestream's `path` is for that replica. */
export function replicaPrefix(store: StoreConfig, replicaPath: string): string {
  return `${store.prefix}${replicaPath}`;
}
