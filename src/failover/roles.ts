import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { openStore } from "../store/open";
import { UserError } from "../util/errors";
import { Lease, type LeaseRecord } from "./lease";

/** The lease as it stands in the store (undefined when none was ever taken). */
export async function readLease(cfg: UnderstudyConfig, node: string): Promise<LeaseRecord | undefined> {
  const lease = new Lease(await openStore(cfg.store), cfg.store.prefix, node, {
    ttlMs: cfg.failover.leaseTtl,
    maxSkewMs: cfg.failover.maxClockSkew,
  });
  return (await lease.read()).record;
}

/** Refuses a role's command on a node that does not have that role now, saying why and what to run instead. */
export async function requireRole(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  role: "primary" | "standby",
  command: string,
): Promise<void> {
  // The store may not answer now; then the config's role decides (and the role itself waits for the store).
  const r = await Promise.race([
    readLease(cfg, node.name).catch(() => undefined),
    new Promise<undefined>((res) => setTimeout(() => res(undefined), 10_000).unref()),
  ]);
  const now = r ? (r.holder === node.name ? "primary" : "standby") : node.role;
  if (now === role) return;
  const why = r
    ? r.holder === node.name
      ? `it holds the lease (epoch ${r.epoch}): it is the primary`
      : `${r.holder} holds the lease (epoch ${r.epoch}): ${node.name} is a standby`
    : `it is the ${node.role}`;
  throw new UserError(`node "${node.name}": ${why}; ${command} runs only on the ${role}. Nothing was started.`);
}
