import { existsSync } from "node:fs";
import { join } from "node:path";
import type { FileStoreConfig } from "../config/types";
import type { StoreBackend } from "./backend";
import { FileStore } from "./fileStore";

/** A local directory: needs no credentials; Litestream's `file` replica writes the same layout. */
export function fileBackend(cfg: FileStoreConfig): StoreBackend {
  return {
    describe: () => `file://${cfg.path}`,
    litestreamReplica: (replicaPath) => ({
      name: "file",
      type: "file",
      path: join(cfg.path, `${cfg.prefix}${replicaPath}`),
    }),
    litestreamNote: () => undefined,
    litestreamEnv: async () => ({ env: {}, secrets: [] }),
    secrets: () => [],
    preflight: () => [
      existsSync(cfg.path)
        ? { status: "pass", check: "store", detail: `file store ${cfg.path}` }
        : {
            status: "warn",
            check: "store",
            detail: `file store ${cfg.path} does not exist yet (it is created on first upload)`,
          },
    ],
    open: async () => new FileStore(cfg.path),
  };
}
