import { existsSync, statSync } from "node:fs";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { discoveryProvider } from "../failover/discovery/factory";
import { Lease } from "../failover/lease";
import { SlackWebhookNotifier } from "../heartbeat/slackWebhook";
import { checkPrimary, primaryHealthUrl, standbyNotReady } from "../node/primaryCheck";
import { checkSecrets } from "../preflight/secretsNeeded";
import { verifyStore } from "../replicate/verify";
import { resolveSecret } from "../secrets/resolve";
import { openStore } from "../store/open";
import { formatAge } from "../util/duration";

export interface PrerequisiteCheck {
  check: string;
  status: "pass" | "fail" | "warn";
  detail: string;
  fix?: string;
}

/**
 * The plan's §8.1 pre-drill prerequisites, checked for real from this node, one line each with the fix: every
 * database has a replica; the primary serves and the standby follows within the RPO; the inference monitor
 * runs; the failover names point at the primary; the heartbeat can reach Slack (a test ping when asked); the
 * secrets this node needs resolve here alone.
 */
export async function drillCheck(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  opts: { pingSlack?: boolean; timeoutMs?: number } = {},
): Promise<PrerequisiteCheck[]> {
  const out: PrerequisiteCheck[] = [];
  const store = await openStore(cfg.store);

  const report = await verifyStore(cfg, store, undefined, new Date(), { chain: false, timeoutMs: opts.timeoutMs });
  const bad = report.rows.filter(
    (r) => r.status === "no-replica" || r.status === "no-snapshot" || r.status === "error",
  );
  out.push({
    check: "replicas",
    status: bad.length ? "fail" : "pass",
    detail: bad.length
      ? `${bad.length} of ${report.rows.length} databases cannot be restored: ${bad
          .slice(0, 5)
          .map((r) => `${r.name} (${r.status})`)
          .join(", ")}`
      : `all ${report.rows.length} databases have a replica with a snapshot`,
    fix: bad.length
      ? "start understudy run (or replicate) on the primary; understudy verify shows each one"
      : undefined,
  });

  const lease = (
    await new Lease(store, cfg.store.prefix, node.name, {
      ttlMs: cfg.failover.leaseTtl,
      maxSkewMs: cfg.failover.maxClockSkew,
    }).read()
  ).record;
  const primary = cfg.nodes.find((n) => n.name === lease?.holder) ?? cfg.nodes.find((n) => n.role === "primary");
  const purl = primary && primaryHealthUrl(cfg, primary);
  const pfail = purl ? await checkPrimary(purl) : "it has no health-url or address in the config";
  out.push({
    check: "primary",
    status: pfail ? "fail" : "pass",
    detail: pfail
      ? `${primary?.name ?? "no primary"}: ${pfail}`
      : `${primary?.name} serves /primary${lease ? ` (lease epoch ${lease.epoch})` : ""}`,
    fix: pfail
      ? "the primary must hold the lease with Litestream up before a drill: understudy status on it"
      : undefined,
  });
  for (const s of cfg.nodes.filter((n) => n !== primary)) {
    const surl = primaryHealthUrl(cfg, s);
    const why = surl ? await standbyNotReady(surl, cfg.health.readyLag) : "it has no health-url or address";
    out.push({
      check: `standby ${s.name}`,
      status: why ? "fail" : "pass",
      detail: why ?? `follows every followed database within ${formatAge(cfg.health.readyLag)}`,
      fix: why ? `understudy status on ${s.name}; understudy run (or follow) must run there` : undefined,
    });
  }

  if (cfg.inference) {
    const f = cfg.inference.monitor.healthFile;
    const age = existsSync(f) ? Date.now() - statSync(f).mtimeMs : undefined;
    const fresh = age !== undefined && age <= cfg.inference.monitor.interval * 3;
    out.push({
      check: "inference monitor",
      status: fresh ? "pass" : age === undefined ? "warn" : "fail",
      detail:
        age === undefined
          ? `no ${f} on this node: the monitor runs elsewhere, or not at all`
          : `${f} updated ${formatAge(age)} ago${fresh ? "" : ` (more than 3 intervals of ${formatAge(cfg.inference.monitor.interval)})`}`,
      fix: fresh ? undefined : "understudy inference monitor (its service) on the node that routes inference",
    });
  }

  if (cfg.discovery.names.length) {
    const address = primary?.tailscaleAddress ?? primary?.address;
    const p = discoveryProvider(cfg, cfg.discovery.provider);
    for (const name of cfg.discovery.names) {
      const at = await p.current(name).catch(() => undefined);
      out.push({
        check: `name ${name}`,
        status: at && at === address ? "pass" : "fail",
        detail: at
          ? `points at ${at}${at === address ? ` (${primary?.name})` : `, not ${primary?.name} (${address})`}`
          : "cannot tell where it points",
        fix: at === address ? undefined : `understudy discovery point ${name} --to ${primary?.name}`,
      });
    }
  }

  const hb = cfg.heartbeat;
  if (!hb.targets.length || !hb.slackWebhook)
    out.push({
      check: "heartbeat",
      status: "fail",
      detail: !hb.targets.length
        ? "no heartbeat.targets: nothing watches the primary from outside"
        : "no heartbeat.slack-webhook: alerts are only logged",
      fix: "set heartbeat.targets and heartbeat.slack-webhook; run understudy heartbeat watch outside both machines",
    });
  else {
    let detail = `watches ${hb.targets.join(", ")}; webhook ${hb.slackWebhook.text}`;
    let status: PrerequisiteCheck["status"] = "pass";
    try {
      const url = await resolveSecret(hb.slackWebhook, "heartbeat.slack-webhook");
      if (opts.pingSlack) {
        await new SlackWebhookNotifier("slack #ops", url).send(`understudy drill check from ${node.name}: test ping`);
        detail += "; a test ping reached Slack";
      } else detail += " resolves (--ping-slack sends a test message)";
    } catch (e) {
      status = "fail";
      detail = `${detail}: ${(e as Error).message}`;
    }
    out.push({
      check: "heartbeat",
      status,
      detail,
      fix: status === "fail" ? "fix the webhook reference or its value" : undefined,
    });
  }

  // The node's secrets, resolved here alone (not the whole doctor: its peer and disk checks are not §8.1's).
  const secrets = await checkSecrets(cfg);
  const failed = secrets.filter((r) => r.error);
  out.push({
    check: "secrets",
    status: failed.length ? "fail" : "pass",
    detail: failed.length
      ? failed.map((r) => r.error).join("; ")
      : `${secrets.length} resolve on ${node.name}: ${secrets.map((r) => `${r.field} by ${r.answeredBy}`).join(", ")}`,
    fix: failed.length ? "understudy secrets check shows each layer; fix the reference or its value" : undefined,
  });
  return out;
}
