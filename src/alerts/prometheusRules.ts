import type { UnderstudyConfig } from "../config/types";

const sec = (ms: number) => `${Math.max(1, Math.round(ms / 1000))}s`;

/**
 * Prometheus alerting rules for what understudy exports, each alert saying what broke and what to look at.
 * Thresholds come from the config: the RPO is health.ready-lag, the watcher's silence is judged by its interval.
 * Every rule is checked by `promtool check rules` and the firing ones by `promtool test rules` in the tests.
 */
export function renderPrometheusRules(cfg: UnderstudyConfig): string {
  const rpo = sec(cfg.health.readyLag);
  const rpoSeconds = Math.round(cfg.health.readyLag / 1000);
  const watcherSilent = Math.round((cfg.heartbeat.interval * 3) / 1000) + 60;
  const ttl = sec(cfg.failover.leaseTtl * 4);
  const rule = (alert: string, expr: string, forDur: string, severity: string, summary: string, description: string) =>
    [
      `      - alert: ${alert}`,
      `        expr: ${expr}`,
      `        for: ${forDur}`,
      "        labels:",
      `          severity: ${severity}`,
      "        annotations:",
      `          summary: ${JSON.stringify(summary)}`,
      `          description: ${JSON.stringify(description)}`,
    ].join("\n");
  return `${[
    "# understudy alerting rules (understudy render prometheus-rules). Scrape: replicate and follow metrics",
    "# (replicate.metrics-listen, follow.metrics-listen), health serve's /metrics, the inference proxy's",
    "# /metrics and heartbeat watch --metrics-listen.",
    "groups:",
    "  - name: understudy",
    "    rules:",
    rule(
      "UnderstudyNoPrimary",
      "max(understudy_health_primary_ok) < 1",
      "2m",
      "critical",
      "No node serves /primary: nothing is replicating",
      "No node holds the lease with Litestream up for 2 minutes: every write since is at risk. Run understudy status on the primary; if it is gone, fail over (understudy promote, or failover.mode automatic).",
    ),
    rule(
      "UnderstudyLitestreamDown",
      "understudy_lease_held == 1 and on(instance) understudy_litestream_up == 0",
      "1m",
      "critical",
      "Litestream is not running on the primary {{ $labels.node }}",
      "The lease holder's supervised Litestream has been down for a minute (restarting with backoff?): its uploads stopped. See understudy status and the replicate log.",
    ),
    rule(
      "UnderstudyStandbyLagAboveRPO",
      `max by (instance, db) (understudy_follow_lag_seconds) > ${rpoSeconds}`,
      "1m",
      "critical",
      `Standby copy of {{ $labels.db }} is {{ $value | humanizeDuration }} behind (RPO ${rpo})`,
      "The standby lacks primary commits older than the RPO: a failover now would lose them. Check understudy status on the standby (store errors, stalled databases) and the primary's uploads.",
    ),
    rule(
      "UnderstudyFollowerStalled",
      "max by (instance, db) (understudy_follow_stalled) > 0",
      "5m",
      "warning",
      "The standby is not applying {{ $labels.db }}",
      "A followed database is stalled or damaged (a gap in the store, a full disk, a file it did not make). understudy status on the standby names the cause and what gets past it.",
    ),
    rule(
      "UnderstudyLeaseChangedHands",
      "changes(max(understudy_lease_epoch)[15m:30s]) > 0",
      "0s",
      "warning",
      "The lease changed hands: a failover or switchover happened",
      "Another node is the primary now. Confirm it was intended; a returning old primary needs understudy rejoin.",
    ),
    rule(
      "UnderstudyLeaseFlapping",
      "changes(max(understudy_lease_epoch)[1h:30s]) > 2",
      "0s",
      "critical",
      "The lease changed hands {{ $value }} times in an hour",
      `Failovers keep happening: check the nodes' clocks, the store's latency (the lease TTL is ${sec(cfg.failover.leaseTtl)}; renewals failing for ${ttl} fence a node) and the network between them.`,
    ),
    rule(
      "UnderstudyInferenceHostDown",
      "min by (host) (understudy_inference_host_healthy) == 0",
      "2m",
      "warning",
      "Ollama host {{ $labels.host }} is down",
      "The inference monitor marks the host unhealthy: its tiers go to their failover target (the other host, or Claude at a cost).",
    ),
    rule(
      "UnderstudyHeartbeatTargetDown",
      "understudy_heartbeat_up == 0",
      "0s",
      "critical",
      "{{ $labels.target }} fails the external heartbeat",
      "The outside watcher cannot get a 200 from this endpoint (its Slack alert carries the reason).",
    ),
    rule(
      "UnderstudyHeartbeatWatcherSilent",
      `time() - max(understudy_heartbeat_last_round_timestamp_seconds) > ${watcherSilent} or absent(understudy_heartbeat_last_round_timestamp_seconds)`,
      "5m",
      "critical",
      "The external heartbeat watcher is silent",
      "Nothing has checked the primary from outside recently: an outage would page nobody. Restart understudy heartbeat watch.",
    ),
  ].join("\n")}\n`;
}
