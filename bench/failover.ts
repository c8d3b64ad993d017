/**
 * npm run bench:failover -- [--trials 10] [--ttl 15s] [--switchovers 3] [--writes 20]
 *
 * Two nodes on one machine, each `understudy run` (or, for manual failover, `understudy follow` on the standby
 * as the plan's operator would have it), a file store, a small fleet under steady writes from an application
 * process, real Litestream. Per trial: kill -9 of the primary's whole process group and its application (power
 * loss), then
 *  - automatic: the standby's run daemon promotes itself (failover.mode: automatic);
 *  - manual: `understudy promote` is run at once, refused while the lease lives, run again at its expiry; then
 *    the standby's service starts (`understudy run`), as launchd would.
 * Measured from the kill: (a) the standby answering 200 on /primary, (b) the first upload published by it as
 * the new epoch. Rows lost: rows committed on the dead primary minus rows on the survivor. Split-brain: objects
 * written into the old primary's generations after the new lease was taken. Switchover: `understudy switchover`
 * under writes, its duration and rows lost (the old primary's databases, set aside, against the new primary's).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig } from "../src/config/load";
import type { NodeConfig, UnderstudyConfig } from "../src/config/types";
import { createDatabase } from "../src/demo/fleet";
import { fleetConfigYaml } from "../src/demo/fleetConfig";
import { WRITER } from "../src/demo/writerProcess";
import type { LeaseRecord } from "../src/failover/lease";
import { digestDatabase } from "../src/fleet/rowHash";
import { HealthServer } from "../src/health/server";
import { readNodeState } from "../src/node/state";
import { freePort, httpStatus } from "../src/util/net";
import { renderTable } from "../src/util/table";

const { values } = parseArgs({
  options: {
    trials: { type: "string", default: "10" },
    ttl: { type: "string", default: "15s" },
    switchovers: { type: "string", default: "3" },
    writes: { type: "string", default: "20" },
  },
});
const TRIALS = Number(values.trials);
const TTL = values.ttl as string;
const SWITCHOVERS = Number(values.switchovers);
const WRITES = values.writes as string;
const BIN = join(__dirname, "..", "..", "bin", "understudy.js");
const FLEET = [
  { name: "mission-control.db", tier: "P0-critical", size: 200_000, writeFrequency: "very-high" as const },
  { name: "tasks.db", tier: "P0-critical", size: 20_000, writeFrequency: "high" as const },
  { name: "invoices.db", tier: "P0-financial", size: 40_000, writeFrequency: "medium" as const },
];
const NAMES = FLEET.map((f) => f.name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pair {
  dir: string;
  file: string;
  cfg: UnderstudyConfig;
  ports: Record<string, number>;
  health: HealthServer[];
  procs: ChildProcess[];
}

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 180_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as T;
  } catch {
    return undefined;
  }
}

/** A process in a group of its own, so that one kill -9 takes it and its children (Litestream) at once. */
function start(pair: Pair, argv: string[]): ChildProcess {
  const c = spawn(process.execPath, argv, { detached: true, stdio: "ignore" });
  pair.procs.push(c);
  return c;
}

function killGroup(c: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    if (c.pid) process.kill(-c.pid, signal);
  } catch {
    // gone already
  }
}

async function setUp(mode: "automatic" | "manual"): Promise<Pair> {
  const dir = mkdtempSync(join(tmpdir(), "understudy-bench-failover-"));
  const dataDir = join(dir, "primary");
  for (const f of FLEET) createDatabase(join(dataDir, f.name), f.size);
  const ports = { primary: await freePort(), standby: await freePort() };
  let yaml = fleetConfigYaml({
    dataDir,
    standbyDir: join(dir, "standby"),
    stateDir: join(dir, "state"),
    store: { type: "file", path: join(dir, "store") },
    inventory: FLEET,
    litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
    metricsListen: "",
    syncInterval: "1s",
    restartBackoffMin: "200ms",
    healthUrls: { primary: `http://127.0.0.1:${ports.primary}`, standby: `http://127.0.0.1:${ports.standby}` },
  });
  yaml = yaml.replace(
    "replicate:\n",
    `failover:\n  mode: ${mode}\n  lease-ttl: ${TTL}\n  check-interval: 1s\n  failed-checks: 3\nreplicate:\n`,
  );
  const file = join(dir, "understudy.yml");
  writeFileSync(file, yaml);
  const cfg = parseConfig(yaml, file);
  const pair: Pair = { dir, file, cfg, ports, health: [], procs: [] };
  for (const n of cfg.nodes) {
    const h = new HealthServer({ node: n, readyLagMs: 60_000 });
    await h.listen("127.0.0.1", ports[n.name as "primary" | "standby"]);
    pair.health.push(h);
  }
  return pair;
}

async function tearDown(p: Pair): Promise<void> {
  for (const c of p.procs) killGroup(c, "SIGTERM");
  await sleep(500);
  for (const c of p.procs) killGroup(c);
  for (const h of p.health) await h.close();
  rmSync(p.dir, { recursive: true, force: true });
}

function runNode(p: Pair, node: string, cmd = "run"): ChildProcess {
  return start(p, [BIN, cmd, "--config", p.file, "--node", node, "--metrics-listen", ""]);
}

function writer(p: Pair, n: NodeConfig): ChildProcess {
  return start(p, [WRITER, n.dataDir, join(p.dir, `writer-${n.name}.pid`), WRITES, ...NAMES]);
}

function rows(path: string): number {
  return existsSync(path) ? digestDatabase(path).rows : 0;
}

/** Objects under the old primary's generations newer than `after` (the file store keeps their mtimes). */
function lateUploads(p: Pair, newGens: string[], after: number): number {
  let n = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name);
      if (e.isDirectory()) walk(path);
      else if (
        path.includes("/generations/") &&
        !newGens.some((g) => path.includes(g)) &&
        statSync(path).mtimeMs > after
      )
        n++;
    }
  };
  walk(join(p.dir, "store"));
  return n;
}

interface Trial {
  primaryMs: number;
  uploadMs: number;
  lost: number;
  splitBrain: number;
}

async function failoverTrial(mode: "automatic" | "manual"): Promise<Trial> {
  const p = await setUp(mode);
  try {
    const [primary, standby] = p.cfg.nodes;
    const app = writer(p, primary);
    const prim = runNode(p, "primary");
    runNode(p, "standby", mode === "automatic" ? "run" : "follow");
    await until("/primary", async () => (await httpStatus(`http://127.0.0.1:${p.ports.primary}/primary`)) === 200);
    await until(
      "a ready standby",
      async () => (await httpStatus(`http://127.0.0.1:${p.ports.standby}/standby?lag=60s`)) === 200,
    );
    await sleep(3000);
    const killedAt = Date.now();
    killGroup(app);
    killGroup(prim);
    const committed = NAMES.reduce((a, n) => a + rows(join(primary.dataDir, n)), 0);
    if (mode === "manual") {
      for (;;) {
        const r = await new Promise<number>((res) =>
          execFile(process.execPath, [BIN, "promote", "--config", p.file, "--node", "standby", "--json"], (e) =>
            res(e ? ((e as { code?: number }).code ?? 1) : 0),
          ),
        );
        if (r === 0) break;
        if (r !== 2) throw new Error(`promote failed (${r})`);
        const lease = readJson<LeaseRecord>(join(p.dir, "store", "litestream", ".understudy", "lease.json"));
        const wait = lease ? Date.parse(lease.expiresAt) + p.cfg.failover.maxClockSkew - Date.now() : 1000;
        await sleep(Math.max(100, wait + 50));
      }
      runNode(p, "standby", "run");
    }
    await until(
      "/primary on the standby",
      async () => (await httpStatus(`http://127.0.0.1:${p.ports.standby}/primary`)) === 200,
    );
    const primaryMs = Date.now() - killedAt;
    const survived = NAMES.reduce((a, n) => a + rows(join(standby.dataDir, n)), 0);
    writer(p, standby);
    const manifestFile = join(p.dir, "store", "litestream", ".understudy", "positions.json");
    const m = await until("the first upload of the new epoch", () => {
      const x = readJson<{ node: string; epoch: number; databases: Record<string, { generation: string }> }>(
        manifestFile,
      );
      return x?.node === "standby" && Object.keys(x.databases).length > 0 ? x : undefined;
    });
    const uploadMs = Date.now() - killedAt;
    const lease = readJson<LeaseRecord>(join(p.dir, "store", "litestream", ".understudy", "lease.json"));
    const split = lateUploads(
      p,
      Object.values(m?.databases ?? {}).map((d) => d.generation),
      Date.parse(lease?.acquiredAt ?? ""),
    );
    return { primaryMs, uploadMs, lost: committed - survived, splitBrain: split };
  } finally {
    await tearDown(p);
  }
}

async function switchoverTrial(): Promise<{ ms: number; lost: number }> {
  const p = await setUp("manual");
  try {
    const [primary, standby] = p.cfg.nodes;
    // The demote hook stops the application, as a real one would, before Litestream's last upload.
    const pidFile = join(p.dir, "writer-$UNDERSTUDY_NODE.pid");
    const hook = `p=$(cat ${pidFile}); kill -TERM $p; while kill -0 $p 2>/dev/null; do sleep 0.05; done`;
    writeFileSync(
      p.file,
      readFileSync(p.file, "utf8").replace(
        "  failed-checks: 3\n",
        `  failed-checks: 3\n  hooks: { demote: ${JSON.stringify(hook)} }\n`,
      ),
    );
    writer(p, primary);
    runNode(p, "primary");
    runNode(p, "standby");
    await until("/primary", async () => (await httpStatus(`http://127.0.0.1:${p.ports.primary}/primary`)) === 200);
    await until(
      "a ready standby",
      async () => (await httpStatus(`http://127.0.0.1:${p.ports.standby}/standby?lag=60s`)) === 200,
    );
    await sleep(3000);
    const t0 = Date.now();
    const out = await new Promise<string>((res, rej) =>
      execFile(process.execPath, [BIN, "switchover", "--config", p.file, "--to", "standby", "--json"], (e, so, se) =>
        e ? rej(new Error(se)) : res(so),
      ),
    );
    const ms = Date.now() - t0;
    JSON.parse(out);
    await until("the old primary to follow", () => readNodeState(primary.stateDir)?.role === "standby");
    const parent = join(p.dir);
    const aside = readdirSync(parent).find((d) => d.startsWith("primary.set-aside-")) as string;
    let lost = 0;
    for (const n of NAMES) lost += rows(join(parent, aside, n)) - rows(join(standby.dataDir, n));
    return { ms, lost };
  } finally {
    await tearDown(p);
  }
}

function pct(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function main(): Promise<void> {
  console.log(
    `bench:failover — ${TRIALS} trials each mode, lease TTL ${TTL}, ${FLEET.length} databases at ${WRITES} writes/s each, file store, Litestream 1 s sync`,
  );
  const results: Record<string, Trial[]> = { automatic: [], manual: [] };
  for (const mode of ["automatic", "manual"] as const)
    for (let i = 0; i < TRIALS; i++) {
      const r = await failoverTrial(mode);
      results[mode].push(r);
      console.log(
        `  ${mode} #${i + 1}: /primary ${(r.primaryMs / 1000).toFixed(1)}s, first upload ${(r.uploadMs / 1000).toFixed(1)}s, rows lost ${r.lost}, split-brain uploads ${r.splitBrain}`,
      );
    }
  const sw: { ms: number; lost: number }[] = [];
  for (let i = 0; i < SWITCHOVERS; i++) {
    const r = await switchoverTrial();
    sw.push(r);
    console.log(`  switchover #${i + 1}: ${(r.ms / 1000).toFixed(1)}s, rows lost ${r.lost}`);
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  const row = (mode: string, t: Trial[]) => [
    mode,
    `${s(
      pct(
        t.map((x) => x.primaryMs),
        0.5,
      ),
    )} / ${s(Math.max(...t.map((x) => x.primaryMs)))}`,
    `${s(
      pct(
        t.map((x) => x.uploadMs),
        0.5,
      ),
    )} / ${s(Math.max(...t.map((x) => x.uploadMs)))}`,
    `${pct(
      t.map((x) => x.lost),
      0.5,
    )} / ${Math.max(...t.map((x) => x.lost))}`,
    String(t.reduce((a, x) => a + x.splitBrain, 0)),
  ];
  console.log(
    `\n${renderTable([
      [
        "FAILOVER",
        "KILL → /primary 200 (p50 / max)",
        "KILL → FIRST NEW-EPOCH UPLOAD",
        "ROWS LOST (p50 / max)",
        "SPLIT-BRAIN UPLOADS",
      ],
      row("automatic (understudy run)", results.automatic),
      row("manual (promote at once, retried at expiry)", results.manual),
    ])}`,
  );
  const auto = pct(
    results.automatic.map((x) => x.primaryMs),
    0.5,
  );
  const manual = pct(
    results.manual.map((x) => x.primaryMs),
    0.5,
  );
  console.log(
    `\nautomatic vs manual RTO (p50): ${s(auto)} vs ${s(manual)} = ${(auto / manual).toFixed(2)}×; aim ≤ 30 s at a 15 s TTL`,
  );
  if (sw.length)
    console.log(
      `switchover under writes: p50 ${s(
        pct(
          sw.map((x) => x.ms),
          0.5,
        ),
      )}, max ${s(Math.max(...sw.map((x) => x.ms)))}; rows lost ${sw.map((x) => x.lost).join(", ")} (aim 0)`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
