import type { AbsStoreConfig } from "../config/types";
import { resolveSecret } from "../secrets/resolve";
import { UserError } from "../util/errors";
import { AbsStore } from "./absStore";
import type { StoreBackend } from "./backend";

/** Environment variable Litestream 0.3.13 reads the Azure account key from when the config has none. */
export const ABS_KEY_ENV = "LITESTREAM_AZURE_ACCOUNT_KEY";

const KEY_REQUIRED =
  "store.account-key is required: Litestream v0.3.13 signs Azure requests with the account key only (AZURE_CLIENT_ID/SECRET are ignored by it); the service principal serves understudy's own reads";

/** Azure Blob Storage: the account key for Litestream (0.3.13 knows no other), the service principal for understudy. */
export function absBackend(cfg: AbsStoreConfig): StoreBackend {
  return {
    describe: () => `abs://${cfg.container}@${cfg.account}${cfg.endpoint ? ` (${cfg.endpoint})` : ""}`,
    litestreamReplica: (replicaPath) => ({
      name: "abs",
      type: "abs",
      "account-name": cfg.account,
      bucket: cfg.container,
      path: `${cfg.prefix}${replicaPath}`,
      ...(cfg.endpoint ? { endpoint: cfg.endpoint } : {}),
    }),
    litestreamNote: () =>
      `Azure credentials are not in this file: Litestream reads the account key from $${ABS_KEY_ENV}.`,
    litestreamEnv: async () => {
      if (!cfg.accountKey) throw new UserError(KEY_REQUIRED);
      const key = await resolveSecret(cfg.accountKey, "store.account-key");
      return { env: { [ABS_KEY_ENV]: key }, secrets: [key] };
    },
    secrets: () => [
      ...(cfg.accountKey ? [{ field: "store.account-key", ref: cfg.accountKey }] : []),
      ...(cfg.servicePrincipal
        ? [{ field: "store.service-principal.client-secret", ref: cfg.servicePrincipal.clientSecret }]
        : []),
    ],
    preflight: () => (cfg.accountKey ? [] : [{ status: "fail", check: "credentials", detail: KEY_REQUIRED }]),
    open: async () => {
      const accountKey = cfg.accountKey ? await resolveSecret(cfg.accountKey, "store.account-key") : undefined;
      const sp = cfg.servicePrincipal
        ? {
            tenantId: cfg.servicePrincipal.tenantId,
            clientId: cfg.servicePrincipal.clientId,
            clientSecret: await resolveSecret(
              cfg.servicePrincipal.clientSecret,
              "store.service-principal.client-secret",
            ),
          }
        : undefined;
      return new AbsStore(cfg.account, cfg.container, { accountKey, servicePrincipal: sp }, cfg.endpoint);
    },
  };
}
