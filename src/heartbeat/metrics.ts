import { createServer, type Server } from "node:http";
import { listenHttp, safeHandler } from "../util/net";
import { promLabels } from "../util/prometheus";
import { type HeartbeatState, readHeartbeatState } from "./state";
import type { Heartbeat } from "./watcher";

/**
 * The watcher's own metrics, so that a silent watcher is itself noticed: per target up and consecutive
 * failures, and when the last round ran.
 */
export function renderHeartbeatMetrics(s: HeartbeatState | undefined, lastRoundAt: number | undefined): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${promLabels(labels)} ${v}`);
  };
  const targets = Object.values(s?.targets ?? {});
  metric(
    "understudy_heartbeat_up",
    "gauge",
    "1 if the target's last check passed.",
    targets.map((t) => [{ target: t.url }, t.status === "up" ? 1 : 0]),
  );
  metric(
    "understudy_heartbeat_consecutive_failures",
    "gauge",
    "Checks of the target failed in a row.",
    targets.map((t) => [{ target: t.url }, t.consecutiveFailures]),
  );
  metric(
    "understudy_heartbeat_alerting",
    "gauge",
    "1 while the target is down and #ops was alerted.",
    targets.map((t) => [{ target: t.url }, t.alertedAt ? 1 : 0]),
  );
  metric(
    "understudy_heartbeat_alert_sent_timestamp_seconds",
    "gauge",
    "Unix time #ops accepted the current incident's DOWN alert (0: none).",
    targets.map((t) => [{ target: t.url }, t.alertSentAt ? Date.parse(t.alertSentAt) / 1000 : 0]),
  );
  metric("understudy_heartbeat_last_round_timestamp_seconds", "gauge", "Unix time of the watcher's last round.", [
    [{}, lastRoundAt ? lastRoundAt / 1000 : 0],
  ]);
  return `${out.join("\n")}\n`;
}

/**
 * Serves /metrics for a running watcher (its state file is the truth; the round time is the watcher's), and
 * /state: the watcher's record itself (per target: failures, when it alerted, when Slack accepted the alert, the
 * last incidents), which `understudy drill run` reads for the alert latency. Notification texts stay out of it.
 */
export async function serveHeartbeatMetrics(
  hb: Heartbeat,
  stateFile: string,
  host: string,
  port: number,
): Promise<Server> {
  const server = createServer(
    safeHandler((req, res) => {
      if (req.url === "/state") {
        const st = readHeartbeatState(stateFile);
        for (const t of Object.values(st.targets)) t.pending = [];
        res.writeHead(200, { "content-type": "application/json" });
        return void res.end(JSON.stringify(st));
      }
      if (req.url !== "/metrics") return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(renderHeartbeatMetrics(readHeartbeatState(stateFile), hb.lastRoundAt));
    }),
  );
  await listenHttp(server, host, port);
  return server;
}
