import type { MapReader } from "./yamlReader";

/** Who may write: the lease in the store that fences the primary (see src/failover/lease.ts). */
export interface FailoverConfig {
  /**
   * manual: only `promote` or `switchover` moves the lease. automatic: a standby running `understudy run`
   * promotes itself when the lease has expired and the primary's health endpoint failed `failedChecks` times in a
   * row — never while the lease is live.
   */
  mode: "manual" | "automatic";
  /** Consecutive failed checks of the primary's /primary endpoint before an automatic promotion. */
  failedChecks: number;
  /** How often the standby checks the primary (and the lease); also how soon it sees a switchover. */
  checkInterval: number;
  /** How long a switchover waits for the candidate to take over before the old primary resumes. */
  switchoverTimeout: number;
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
  mode: "manual",
  failedChecks: 3,
  checkInterval: 5000,
  switchoverTimeout: 120_000,
  leaseTtl: 15_000,
  maxClockSkew: 1000,
  hooks: {},
  hookTimeout: 60_000,
};

export function readFailover(r: MapReader | undefined): FailoverConfig {
  const d = DEFAULT_FAILOVER;
  const hooks = r?.map("hooks");
  const out: FailoverConfig = {
    mode: r?.oneOf("mode", ["manual", "automatic"] as const) ?? d.mode,
    failedChecks: r?.num("failed-checks", { min: 1, integer: true }) ?? d.failedChecks,
    checkInterval: r?.duration("check-interval") ?? d.checkInterval,
    switchoverTimeout: r?.duration("switchover-timeout") ?? d.switchoverTimeout,
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
