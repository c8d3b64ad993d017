import type { MapReader } from "./yamlReader";

/** Who may write: the lease in the store that fences the primary (see src/failover/lease.ts). */
export interface FailoverConfig {
  /** How long a lease lasts without renewal; the holder renews every third of it. */
  leaseTtl: number;
  /**
   * The clock difference between the nodes the lease tolerates: a node takes an expired lease only this long
   * after its expiry by its own clock. `doctor` measures the real skew against the peer.
   */
  maxClockSkew: number;
  hooks: {
    /** Run when this node stops being the primary (fenced, demoted): stop the apps that write the databases. */
    demote?: string;
    /** Run when this node becomes the primary: start the apps. */
    promote?: string;
  };
  hookTimeout: number;
}

export const DEFAULT_FAILOVER: FailoverConfig = {
  leaseTtl: 15_000,
  maxClockSkew: 1000,
  hooks: {},
  hookTimeout: 60_000,
};

export function readFailover(r: MapReader | undefined): FailoverConfig {
  const d = DEFAULT_FAILOVER;
  const hooks = r?.map("hooks");
  const out: FailoverConfig = {
    leaseTtl: r?.duration("lease-ttl") ?? d.leaseTtl,
    maxClockSkew: r?.duration("max-clock-skew", false, "trusts the clocks exactly") ?? d.maxClockSkew,
    hooks: { demote: hooks?.str("demote"), promote: hooks?.str("promote") },
    hookTimeout: r?.duration("hook-timeout") ?? d.hookTimeout,
  };
  hooks?.finish();
  if (r && out.leaseTtl < 3000)
    r.ctx.report(
      r.raw("lease-ttl") ?? null,
      "failover.lease-ttl",
      "must be at least 3s (it is renewed every third of it)",
    );
  if (r && out.maxClockSkew >= out.leaseTtl / 2)
    r.ctx.report(
      r.raw("max-clock-skew") ?? null,
      "failover.max-clock-skew",
      "must be under half the lease-ttl, or a lease could be taken while its holder still writes",
    );
  r?.finish();
  return out;
}
