import { type HeartbeatState, readHeartbeatState } from "./state";

/**
 * The watcher's record, from where it is: its --state file (on this machine, or a shared one), or the /state URL
 * its --metrics-listen server serves. Rejects when the record cannot be read (a URL that does not answer); a
 * missing state file reads as an empty record, as the watcher itself reads it.
 */
export async function readHeartbeatRecord(source: string, timeoutMs = 5000): Promise<HeartbeatState> {
  if (!/^https?:\/\//.test(source)) return readHeartbeatState(source);
  const res = await fetch(source, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${source} answered HTTP ${res.status}`);
  const s = (await res.json()) as HeartbeatState;
  if (!s || typeof s.targets !== "object") throw new Error(`${source} is not a heartbeat watcher's /state`);
  return s;
}

/** A target of the record that checks `base` (a node's health URL): its URL starts with it. */
export function targetOf(s: HeartbeatState, base: string) {
  const b = base.replace(/\/+$/, "");
  return Object.values(s.targets).find((t) => t.url === b || t.url.startsWith(`${b}/`));
}

/**
 * The DOWN alert of the incident on the target checking `base` that the watcher raised at or after `since` (ms):
 * when Slack accepted it, or why it went nowhere. Looks in the incident still open and in those that ended;
 * undefined while there is none.
 */
export function alertSince(
  s: HeartbeatState,
  base: string,
  since: number,
): { sentAt: number } | { notSent: string } | undefined {
  const t = targetOf(s, base);
  if (!t) return undefined;
  const incidents = [...(t.incidents ?? []), ...(t.failingSince ? [t] : [])].filter(
    (i) => i.alertedAt && Date.parse(i.alertedAt) >= since,
  );
  const sent = incidents.filter((i) => i.alertSentAt).map((i) => Date.parse(i.alertSentAt as string));
  if (sent.length) return { sentAt: Math.min(...sent) };
  const why = incidents.find((i) => i.alertNotSent)?.alertNotSent;
  return why ? { notSent: why } : undefined;
}
