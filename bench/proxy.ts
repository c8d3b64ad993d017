/**
 * npm run bench:proxy -- [--requests 3000] [--concurrency 8] [--chaos-seconds 30] [--kill-every 3]
 *
 * Two Ollama stand-ins (anvil, forge: separate processes) and `understudy inference proxy` (a child process,
 * the plan's tier-routing.json rules). Measured in the same run:
 *  1. latency and throughput of non-streaming /api/chat calling anvil directly, then through the proxy;
 *  2. chaos: anvil is SIGKILLed and restarted every few seconds while clients send tier-2 requests, once straight
 *     at anvil (what clients do without the proxy) and once through the proxy; failed requests are counted.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../src/util/net";
import { renderTable } from "../src/util/table";
import { ANVIL_MODELS, FORGE_MODELS, OllamaProcess } from "../test/helpers/inference";
import { procSample } from "./procstat";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "8" },
    "chaos-seconds": { type: "string", default: "30" },
    "kill-every": { type: "string", default: "3" },
  },
});
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const CHAOS_MS = Number(values["chaos-seconds"]) * 1000;
const KILL_EVERY_MS = Number(values["kill-every"]) * 1000;
const BIN = join(__dirname, "..", "..", "bin", "understudy.js");
const BODY = JSON.stringify({
  model: "qwen2.5-coder:32b",
  stream: false,
  messages: [{ role: "user", content: "ping" }],
});

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : Number.NaN;
}

async function one(url: string, headers: Record<string, string>): Promise<{ ok: boolean; ms: number; error?: string }> {
  const t = performance.now();
  try {
    const r = await fetch(`${url}/api/chat`, {
      method: "POST",
      headers,
      body: BODY,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    return {
      ok: r.ok && text.includes('"done":true'),
      ms: performance.now() - t,
      error: r.ok ? undefined : `HTTP ${r.status}`,
    };
  } catch (e) {
    return {
      ok: false,
      ms: performance.now() - t,
      error: (e as Error & { cause?: { code?: string } }).cause?.code ?? (e as Error).message,
    };
  }
}

/** Runs `total` requests (or until `untilMs`) with fixed concurrency; returns latencies, failures and rate. */
async function load(url: string, opts: { total?: number; untilMs?: number; headers?: Record<string, string> }) {
  const lat: number[] = [];
  const errors = new Map<string, number>();
  let sent = 0;
  let failed = 0;
  const start = performance.now();
  const more = () => (opts.total !== undefined ? sent < opts.total : performance.now() - start < (opts.untilMs ?? 0));
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (more()) {
        sent++;
        const r = await one(url, { "content-type": "application/json", ...opts.headers });
        if (r.ok) lat.push(r.ms);
        else {
          failed++;
          errors.set(r.error ?? "?", (errors.get(r.error ?? "?") ?? 0) + 1);
          // A client that fails fast would spin: pause like a real one would before its next request.
          await new Promise((res) => setTimeout(res, 20));
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { lat, failed, sent, rps: lat.length / seconds, errors };
}

async function startProxy(routing: string, port: number): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      BIN,
      "inference",
      "proxy",
      "--routing",
      routing,
      "--listen",
      `127.0.0.1:${port}`,
      "--interval",
      "1s",
      "--override-file",
      "/nonexistent",
    ],
    { stdio: ["ignore", "ignore", openSync(join(dirname(routing), "proxy.log"), "a")] },
  );
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return child;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error("proxy did not start");
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "understudy-bench-proxy-"));
  const anvil = await new OllamaProcess("anvil", ANVIL_MODELS).start();
  const forge = await new OllamaProcess("forge", FORGE_MODELS).start();
  const routing = join(dir, "tier-routing.json");
  // The plan's own tier-routing.json, with the hosts at the stand-ins.
  const plan = JSON.parse(readFileSync(join(__dirname, "..", "..", "examples", "tier-routing.json"), "utf8"));
  plan.ollamaHosts.anvil.url = anvil.url;
  plan.ollamaHosts.forge.url = forge.url;
  writeFileSync(routing, JSON.stringify(plan));
  const port = await freePort();
  const proxyUrl = `http://127.0.0.1:${port}`;
  const proxy = await startProxy(routing, port);
  const tier = { "x-understudy-tier": "2" };
  console.log(
    `stand-ins: anvil ${anvil.url}, forge ${forge.url}; proxy ${proxyUrl}; ${CONCURRENCY} concurrent clients`,
  );

  await load(anvil.url, { total: 200 });
  console.error("warmed up direct");
  await load(proxyUrl, { total: 200, headers: tier });
  console.error("warmed up through the proxy");
  const direct = await load(anvil.url, { total: REQUESTS });
  const cpu0 = procSample(proxy.pid ?? 0)?.cpuSeconds ?? 0;
  const t0 = performance.now();
  const via = await load(proxyUrl, { total: REQUESTS, headers: tier });
  const proxyCpu = ((procSample(proxy.pid ?? 0)?.cpuSeconds ?? 0) - cpu0) / ((performance.now() - t0) / 1000);
  const rss = procSample(proxy.pid ?? 0)?.rssBytes ?? 0;

  const chaos = async (url: string, headers: Record<string, string>) => {
    let stop = false;
    let kills = 0;
    const killer = (async () => {
      while (!stop) {
        await new Promise((r) => setTimeout(r, KILL_EVERY_MS));
        if (stop) break;
        await anvil.kill();
        kills++;
        await new Promise((r) => setTimeout(r, KILL_EVERY_MS / 2));
        await anvil.start();
      }
    })();
    const r = await load(url, { untilMs: CHAOS_MS, headers });
    stop = true;
    await killer;
    return { ...r, kills };
  };
  console.error(`steady state done; chaos ${CHAOS_MS / 1000}s direct, then ${CHAOS_MS / 1000}s through the proxy`);
  const chaosDirect = await chaos(anvil.url, {});
  const chaosProxy = await chaos(proxyUrl, tier);

  const f = (ms: number) => `${ms.toFixed(2)} ms`;
  const rows = [
    ["", "direct to anvil", "through proxy", "proxy / direct"],
    [
      "latency p50",
      f(pct(direct.lat, 50)),
      f(pct(via.lat, 50)),
      `${(pct(via.lat, 50) / pct(direct.lat, 50)).toFixed(2)}x`,
    ],
    [
      "latency p99",
      f(pct(direct.lat, 99)),
      f(pct(via.lat, 99)),
      `${(pct(via.lat, 99) / pct(direct.lat, 99)).toFixed(2)}x`,
    ],
    [
      "added latency p50 / p99",
      "-",
      `${f(pct(via.lat, 50) - pct(direct.lat, 50))} / ${f(pct(via.lat, 99) - pct(direct.lat, 99))}`,
      "-",
    ],
    ["requests / s", direct.rps.toFixed(0), via.rps.toFixed(0), `${(via.rps / direct.rps).toFixed(2)}x`],
    ["failed requests (steady)", String(direct.failed), String(via.failed), "-"],
    ["proxy CPU % / RSS", "-", `${(proxyCpu * 100).toFixed(0)}% / ${(rss / 1e6).toFixed(0)} MB`, "-"],
    [
      `chaos: anvil killed every ${KILL_EVERY_MS / 1000}s`,
      `${chaosDirect.kills} kills`,
      `${chaosProxy.kills} kills`,
      "-",
    ],
    ["chaos: requests sent", String(chaosDirect.sent), String(chaosProxy.sent), "-"],
    ["chaos: failed requests", String(chaosDirect.failed), String(chaosProxy.failed), "-"],
    [
      "chaos: failed %",
      `${((100 * chaosDirect.failed) / Math.max(1, chaosDirect.sent)).toFixed(1)}%`,
      `${((100 * chaosProxy.failed) / Math.max(1, chaosProxy.sent)).toFixed(1)}%`,
      "-",
    ],
  ];
  console.log(renderTable(rows));
  if (chaosProxy.errors.size) console.log(`proxy failures: ${JSON.stringify(Object.fromEntries(chaosProxy.errors))}`);
  if (chaosDirect.errors.size)
    console.log(`direct failures: ${JSON.stringify(Object.fromEntries(chaosDirect.errors))}`);
  proxy.kill("SIGTERM");
  await Promise.all([anvil.kill(), forge.kill()]);
  if (process.env.KEEP) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

void main().catch((e) => {
  console.error(e);
  process.exit(1);
});
