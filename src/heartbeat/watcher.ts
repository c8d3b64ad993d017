import type { Logger } from "pino";
import type { HeartbeatConfig } from "../config/opsConfig";
import { formatAge } from "../util/duration";
import { fetchFailure } from "../util/net";
import type { Notifier } from "./notifier";
import { freshTarget, type HeartbeatState, readHeartbeatState, type TargetState, writeHeartbeatState } from "./state";

/** The config's timing and thresholds, with the webhooks already turned into notifiers. */
export interface HeartbeatOptions
  extends Pick<
    HeartbeatConfig,
    "interval" | "timeout" | "alertAfter" | "escalateAfter" | "reminderInterval" | "stateFile"
  > {
  ops?: Notifier;
  escalation?: Notifier;
  log: Logger;
}

export interface ProbeResult {
  ok: boolean;
  status?: number;
  error?: string;
  ms: number;
}

/** One check: GET the URL; up means a 2xx answer within the timeout. */
export async function probe(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { "user-agent": "understudy-heartbeat" },
    });
    const body = (await res.text()).slice(0, 2000);
    const ms = Math.round(performance.now() - started);
    if (res.ok) return { ok: true, status: res.status, ms };
    // understudy's endpoints say why in {"reason": …}: the alert carries it, not just the status.
    let reason = "";
    try {
      reason = String((JSON.parse(body) as { reason?: unknown }).reason ?? "");
    } catch {
      // not one of ours: the status alone
    }
    return {
      ok: false,
      status: res.status,
      error: `HTTP ${res.status}${reason ? `: ${reason.slice(0, 300)}` : ""}`,
      ms,
    };
  } catch (e) {
    return { ok: false, error: fetchFailure(e, timeoutMs), ms: Math.round(performance.now() - started) };
  }
}

/** Host and path: which node and which check (/primary, /standby?lag=60s), never credentials in the URL. */
function label(url: string): string {
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname === "/" ? "" : u.pathname}${u.search}`;
  } catch {
    return url;
  }
}

const clock = (iso: string) => `${iso.slice(11, 16)} UTC`;

/**
 * The external watcher's state machine: counts consecutive failures per target, alerts #ops once at
 * `alertAfter`, escalates once at `escalateAfter`, reminds at most every `reminderInterval`, and posts one
 * recovery notice. All of it lives in the state file, read before and written after every round, so a watcher
 * that is killed, or a CI job that starts fresh each time, carries on where the last one stopped.
 */
export class Heartbeat {
  constructor(
    private readonly targets: string[],
    private readonly o: HeartbeatOptions,
  ) {}

  /** When the last round finished (for the watcher's own metrics). */
  lastRoundAt?: number;

  async round(now = () => new Date()): Promise<HeartbeatState> {
    const state = readHeartbeatState(this.o.stateFile);
    const results = await Promise.all(this.targets.map((u) => probe(u, this.o.timeout)));
    this.targets.forEach((url, i) => {
      const t = state.targets[url] ?? freshTarget(url);
      state.targets[url] = t;
      this.apply(t, results[i], now().toISOString());
    });
    for (const t of Object.values(state.targets)) await this.deliver(t);
    writeHeartbeatState(this.o.stateFile, state);
    this.lastRoundAt = Date.now();
    return state;
  }

  private queue(t: TargetState, to: "ops" | "escalation", text: string, at: string, kind?: "down"): void {
    t.pending.push({ to, text, firstTriedAt: at, ...(kind ? { kind } : {}) });
  }

  private apply(t: TargetState, r: ProbeResult, at: string): void {
    const name = label(t.url);
    t.lastCheck = at;
    t.lastHttpStatus = r.status;
    if (r.ok) {
      if (t.status === "down" && t.alertedAt) {
        const down = t.failingSince ? formatAge(Date.parse(at) - Date.parse(t.failingSince)) : "a while";
        const text = `:large_green_circle: ${name} is answering again after ${down} down (failing since ${clock(t.failingSince ?? at)}).`;
        this.queue(t, "ops", text, at);
        if (t.escalatedAt) this.queue(t, "escalation", text, at);
      }
      if (t.failingSince && t.alertedAt)
        t.incidents = [
          ...(t.incidents ?? []),
          {
            failingSince: t.failingSince,
            alertedAt: t.alertedAt,
            alertSentAt: t.alertSentAt,
            alertNotSent: t.alertNotSent,
            recoveredAt: at,
          },
        ].slice(-20);
      if (t.status !== "up") this.o.log.info({ target: t.url, ms: r.ms }, `${name} is up`);
      Object.assign(t, { status: "up", consecutiveFailures: 0, lastError: undefined, failingSince: undefined });
      t.alertedAt = t.alertSentAt = t.alertNotSent = t.escalatedAt = t.lastReminderAt = undefined;
      return;
    }
    t.consecutiveFailures++;
    t.lastError = r.error;
    t.failingSince ??= at;
    this.o.log.warn({ target: t.url, failures: t.consecutiveFailures, error: r.error }, `${name} check failed`);
    const detail = `${t.consecutiveFailures} checks failed in a row since ${clock(t.failingSince)} (last: ${r.error}).`;
    if (!t.alertedAt && t.consecutiveFailures >= this.o.alertAfter) {
      t.status = "down";
      t.alertedAt = at;
      this.queue(
        t,
        "ops",
        `:red_circle: ${name} is DOWN: ${detail} Check Tailscale and start the failover to the standby if it is confirmed.`,
        at,
        "down",
      );
      return;
    }
    if (t.alertedAt && !t.escalatedAt && t.consecutiveFailures >= this.o.escalateAfter) {
      t.escalatedAt = at;
      this.queue(
        t,
        "escalation",
        `:rotating_light: ${name} is still DOWN: ${detail} #ops was alerted at ${clock(t.alertedAt)}.`,
        at,
      );
      return;
    }
    const since = Date.parse(t.lastReminderAt ?? t.escalatedAt ?? t.alertedAt ?? at);
    if (t.alertedAt && this.o.reminderInterval > 0 && Date.parse(at) - since >= this.o.reminderInterval) {
      t.lastReminderAt = at;
      this.queue(t, "ops", `:red_circle: reminder: ${name} is still DOWN: ${detail}`, at);
    }
  }

  /** Sends what is pending, in order; what cannot be sent now waits for the next round (never dropped, never reordered). */
  private async deliver(t: TargetState): Promise<void> {
    while (t.pending.length) {
      const n = t.pending[0];
      const to = n.to === "escalation" ? (this.o.escalation ?? this.o.ops) : this.o.ops;
      if (!to) {
        this.o.log.warn({ text: n.text }, "no webhook configured; alert only logged");
        if (n.kind === "down") t.alertNotSent = "the watcher has no webhook: its alert was only logged";
        t.pending.shift();
        continue;
      }
      try {
        await sendWithRetry(to, n.text);
        this.o.log.info({ to: to.label, text: n.text }, "alert sent");
        if (n.kind === "down" && !t.alertSentAt && t.alertedAt) t.alertSentAt = new Date().toISOString();
        t.pending.shift();
      } catch (e) {
        this.o.log.error({ to: to.label, err: (e as Error).message }, "alert not delivered; will retry next round");
        return;
      }
    }
  }

  async watch(signal: AbortSignal, forMs?: number): Promise<void> {
    const end = forMs ? Date.now() + forMs : Number.POSITIVE_INFINITY;
    while (!signal.aborted) {
      const started = Date.now();
      await this.round();
      const next = started + this.o.interval;
      if (next >= end) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(0, next - Date.now()));
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

async function sendWithRetry(n: Notifier, text: string): Promise<void> {
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      return await n.send(text);
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}
