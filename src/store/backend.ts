import type { SecretRef } from "../config/secretRef";
import type { ReplicaStore } from "./store";

/**
 * What each kind of store contributes besides reading and writing objects: how it is named, the Litestream 0.3
 * replica block that points at it, the credentials Litestream's process needs and the secrets it is built from.
 * One implementation per backend (fileBackend.ts, absBackend.ts); nothing outside store/ looks at the store's
 * type, so another backend is one more file here.
 */
export interface StoreBackend {
  /** Where it points, safe to print (never a credential). */
  describe(): string;
  /** Litestream 0.3's replica block for one database's replica path; holds no secret. */
  litestreamReplica(replicaPath: string): Record<string, unknown>;
  /** A comment line for the rendered Litestream config (how its credentials reach it), or undefined. */
  litestreamNote(): string | undefined;
  /**
   * The environment Litestream's process needs for this store, resolved now, and the secret values in it (to
   * redact from its output). Throws UserError when a credential Litestream needs is not configured.
   */
  litestreamEnv(): Promise<{ env: Record<string, string>; secrets: string[] }>;
  /** The secret references this store is opened with, by config field. */
  secrets(): { field: string; ref: SecretRef }[];
  /** Preflight lines about this store's configuration that need no network (credentials present, path exists). */
  preflight(): { status: "pass" | "warn" | "fail"; check: string; detail: string }[];
  /** Opens it, resolving its secret references now (never earlier, never into a file). */
  open(): Promise<ReplicaStore>;
}
