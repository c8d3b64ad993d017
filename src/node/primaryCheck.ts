import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { fetchFailure } from "../util/net";

/** Where a node's health endpoints answer: its health-url, else its address and health.listen's port. */
export function primaryHealthUrl(cfg: UnderstudyConfig, node: NodeConfig): string | undefined {
  if (node.healthUrl) return node.healthUrl.replace(/\/$/, "");
  const address = node.tailscaleAddress ?? node.address;
  if (!address) return undefined;
  const port = cfg.health.listen.slice(cfg.health.listen.lastIndexOf(":") + 1);
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/**
 * One check of the primary as a standby in automatic mode sees it: /primary answers 200 only on the lease holder
 * with Litestream up. Returns undefined when it passes, else what failed (refused, timed out, the status and its
 * reason).
 */
export async function checkPrimary(baseUrl: string, timeoutMs = 3000): Promise<string | undefined> {
  try {
    const res = await fetch(`${baseUrl}/primary`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text().catch(() => "");
    if (res.status === 200) return undefined;
    let reason = body.slice(0, 200);
    try {
      reason = (JSON.parse(body) as { reason?: string }).reason ?? reason;
    } catch {
      // not JSON: the text itself
    }
    return `${baseUrl}/primary answered ${res.status}${reason ? `: ${reason}` : ""}`;
  } catch (e) {
    return `${baseUrl}/primary: ${fetchFailure(e)}`;
  }
}

/** Whether a standby can take over now, by its own /standby endpoint; undefined when it can, else why not. */
export async function standbyNotReady(baseUrl: string, maxLagMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(`${baseUrl}/standby?lag=${Math.round(maxLagMs / 1000)}s`, {
      signal: AbortSignal.timeout(5000),
    });
    if (res.status === 200) return undefined;
    const body = (await res.json().catch(() => ({}))) as { reason?: string };
    return `${baseUrl}/standby answered ${res.status}${body.reason ? `: ${body.reason}` : ""}`;
  } catch (e) {
    return `${baseUrl}/standby: ${fetchFailure(e)}`;
  }
}
