import { UserError } from "../config/errors";
import { DEFAULT_HEARTBEAT } from "../config/opsConfig";
import { serveHeartbeatMetrics } from "../heartbeat/metrics";
import { SlackWebhookNotifier } from "../heartbeat/slackWebhook";
import type { HeartbeatState } from "../heartbeat/state";
import { Heartbeat } from "../heartbeat/watcher";
import { renderTable } from "../util/table";
import { COMMON, checkOutputPath, daemonLog, listenAddress, parse, printJson, untilSignal } from "./args";
import { countArg, durationArg, optionalConfig, webhookArg } from "./opsArgs";

const OPTIONS = {
  ...COMMON,
  interval: { type: "string" },
  timeout: { type: "string" },
  state: { type: "string" },
  "alert-after": { type: "string" },
  "escalate-after": { type: "string" },
  reminder: { type: "string" },
  for: { type: "string" },
  "slack-webhook": { type: "string" },
  "metrics-listen": { type: "string" },
  "escalation-webhook": { type: "string" },
} as const;

function table(s: HeartbeatState): string {
  const rows = [["TARGET", "STATUS", "FAILURES", "LAST CHECK", "ALERTED", "ESCALATED", "PENDING", "LAST ERROR"]];
  for (const t of Object.values(s.targets))
    rows.push([
      t.url,
      t.status,
      String(t.consecutiveFailures),
      t.lastCheck ?? "-",
      t.alertedAt ?? "-",
      t.escalatedAt ?? "-",
      String(t.pending.length),
      t.lastError ?? "",
    ]);
  return renderTable(rows);
}

export async function heartbeatCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "watch" && sub !== "once")
    throw new UserError(`expected watch or once${sub ? `, not "${sub}"` : ""}. See understudy heartbeat --help`);
  const { values: v, positionals } = parse(rest, OPTIONS, `heartbeat ${sub}`);
  const cfg = optionalConfig(v.config)?.heartbeat ?? DEFAULT_HEARTBEAT;
  const stateFile = checkedState(v.state ?? cfg.stateFile);
  const targets = positionals.length ? positionals : cfg.targets;
  if (!targets.length) throw new UserError(`give the URLs to watch (or heartbeat.targets in the config)`);
  for (const t of targets) {
    if (!/^https?:\/\/[^/]/.test(t)) throw new UserError(`"${t}" is not an http(s) URL`);
  }
  const alertAfter = countArg(v["alert-after"], "alert-after") ?? cfg.alertAfter;
  const escalateAfter = countArg(v["escalate-after"], "escalate-after") ?? cfg.escalateAfter;
  if (escalateAfter < alertAfter) throw new UserError("--escalate-after must be at least --alert-after");
  const ops = await webhookArg(v["slack-webhook"], cfg.slackWebhook, "slack-webhook");
  const esc = await webhookArg(v["escalation-webhook"], cfg.escalationWebhook, "escalation-webhook");
  const log = daemonLog({ role: "heartbeat" });
  if (!ops) log.warn("no Slack webhook (--slack-webhook or heartbeat.slack-webhook): alerts are only logged");
  const hb = new Heartbeat(targets, {
    interval: durationArg(v.interval, "interval", true) ?? cfg.interval,
    timeout: durationArg(v.timeout, "timeout", true) ?? cfg.timeout,
    alertAfter,
    escalateAfter,
    reminderInterval: durationArg(v.reminder, "reminder") ?? cfg.reminderInterval,
    stateFile,
    ops: ops ? new SlackWebhookNotifier("slack #ops", ops) : undefined,
    escalation: esc ? new SlackWebhookNotifier("slack escalation", esc) : undefined,
    log,
  });
  if (sub === "once") {
    const s = await hb.round();
    if (v.json) printJson(s);
    else console.log(table(s));
    return targets.every((t) => s.targets[t]?.status === "up") ? 0 : 1;
  }
  const stop = new AbortController();
  void untilSignal().then(() => stop.abort());
  if (v["metrics-listen"]) {
    const { host, port } = listenAddress(v["metrics-listen"], "--metrics-listen");
    await serveHeartbeatMetrics(hb, stateFile, host, port).catch((e: Error) => {
      throw new UserError(`--metrics-listen ${v["metrics-listen"]}: ${e.message}`);
    });
  }
  log.info({ targets, stateFile: v.state ?? cfg.stateFile, alertAfter, escalateAfter }, "watching");
  await hb.watch(stop.signal, durationArg(v.for, "for"));
  return 0;
}

function checkedState(path: string): string {
  checkOutputPath(path, "--state");
  return path;
}
