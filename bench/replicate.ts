/**
 * npm run bench:replicate -- [--scale 1] [--seconds 60] [--writes 2]
 *
 * The plan's fleet at full size (scale 1, ~1 GB) under N writes per second per database, replicated twice
 * in the same run to Azure Blob semantics (a local Azurite, so every PUT is counted by Litestream itself): first by Litestream alone on the rendered config (the plan's way,
 * the baseline), then by `understudy replicate` supervising the same Litestream. Prints Litestream's CPU and
 * memory, the supervisor's, PUTs and bytes to the store per minute, and the time until every database has
 * its first snapshot, side by side with ratios.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseConfig } from "../src/config/load";
import { AZURITE_ACCOUNT, AZURITE_KEY, AzuriteServer } from "../src/demo/azurite";
import { createFleet } from "../src/demo/fleet";
import { fleetConfigYaml } from "../src/demo/fleetConfig";
import { LoadWriter } from "../src/demo/load";
import { INVENTORY_FILE } from "../src/demo/runDemo";
import { loadInventory } from "../src/fleet/inventory";
import { litestreamBinary } from "../src/litestream/binary";
import { LineSplitter, parseLitestreamLine } from "../src/litestream/events";
import { renderLitestreamConfig } from "../src/litestream/render";
import { readReplicateState } from "../src/replicate/state";
import { ABS_KEY_ENV } from "../src/store/absBackend";
import { AbsStore } from "../src/store/absStore";
import { freePort } from "../src/util/net";
import { formatSize } from "../src/util/size";
import { renderTable } from "../src/util/table";
import { metricSum, procSample } from "./procstat";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string", default: "60" },
    writes: { type: "string", default: "2" },
  },
});
const scale = Number(values.scale);
const seconds = Number(values.seconds);
const writes = Number(values.writes);
const BIN = join(__dirname, "..", "..", "bin", "understudy.js");

interface RunResult {
  litestreamCpuPct: number;
  litestreamPeakRss: number;
  supervisorCpuPct?: number;
  supervisorPeakRss?: number;
  putsPerMin: number;
  manifestPutsPerMin: number;
  bytesPerMin: number;
  firstSnapshotsSeconds?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function clearShadows(dataDir: string): void {
  for (const f of readdirSync(dataDir))
    if (f.endsWith("-litestream")) rmSync(join(dataDir, f), { recursive: true, force: true });
}

async function run(
  mode: "litestream" | "understudy",
  root: string,
  dataDir: string,
  names: string[],
  azurite: AzuriteServer,
): Promise<RunResult> {
  const container = `bench-${mode}`;
  const store = new AbsStore(AZURITE_ACCOUNT, container, { accountKey: AZURITE_KEY }, azurite.endpoint);
  await store.ensureContainer();
  clearShadows(dataDir);
  const lsPort = await freePort();
  const yaml = fleetConfigYaml({
    dataDir,
    standbyDir: join(root, "standby"),
    stateDir: join(root, `state-${mode}`),
    store: { type: "abs", endpoint: azurite.endpoint, container, keyEnv: "UNDERSTUDY_BENCH_KEY" },
    inventory: loadInventory(INVENTORY_FILE),
    litestreamMetricsAddr: `127.0.0.1:${lsPort}`,
    metricsListen: "",
  });
  const cfgFile = join(root, `understudy-${mode}.yml`);
  writeFileSync(cfgFile, yaml);
  const cfg = parseConfig(yaml, cfgFile);
  let child: ChildProcess;
  let lsPid: number | undefined;
  // Which databases have their first snapshot: from Litestream's own log (baseline) or understudy's state.
  const snapshotted = new Set<string>();
  let snapshotsDone: () => number;
  if (mode === "litestream") {
    const lsCfg = join(root, "litestream-baseline.yml");
    writeFileSync(lsCfg, renderLitestreamConfig(cfg, cfg.nodes[0]));
    child = spawn(litestreamBinary({}), ["replicate", "-config", lsCfg], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, [ABS_KEY_ENV]: AZURITE_KEY },
    });
    for (const stream of [child.stdout, child.stderr]) {
      const split = new LineSplitter();
      stream?.setEncoding("utf8");
      stream?.on("data", (c: string) =>
        split.push(c, (line) => {
          const e = parseLitestreamLine(line);
          if (e?.msg === "snapshot written" && e.db) snapshotted.add(e.db);
        }),
      );
    }
    snapshotsDone = () => snapshotted.size;
    lsPid = child.pid;
  } else {
    snapshotsDone = () =>
      readReplicateState(cfg.nodes[0].stateDir)?.databases.filter((d) => d.lastSnapshotAt).length ?? 0;
    child = spawn(process.execPath, [BIN, "replicate", "--config", cfgFile], {
      stdio: "ignore",
      env: { ...process.env, UNDERSTUDY_BENCH_KEY: AZURITE_KEY },
    });
    for (let i = 0; i < 100 && !lsPid; i++) {
      await sleep(100);
      lsPid = readReplicateState(cfg.nodes[0].stateDir)?.litestream.pid;
    }
  }
  if (!lsPid) throw new Error("litestream did not start");
  const load = new LoadWriter(dataDir, names, writes);
  const t0 = Date.now();
  load.start();
  let lsPeak = 0;
  let supPeak = 0;
  const sampleRss = () => {
    lsPeak = Math.max(lsPeak, procSample(lsPid)?.rssBytes ?? 0);
    if (mode === "understudy") supPeak = Math.max(supPeak, procSample(child.pid ?? 0)?.rssBytes ?? 0);
  };
  // Phase 1: the initial snapshots of the whole fleet, a one-off; timed, not counted in the rates.
  let firstSnapshots: number | undefined;
  while (firstSnapshots === undefined && Date.now() - t0 < 15 * 60_000) {
    await sleep(500);
    sampleRss();
    if (snapshotsDone() === cfg.databases.length) firstSnapshots = (Date.now() - t0) / 1000;
  }
  // Phase 2: steady state under load.
  const metrics = async () => (await fetch(`http://127.0.0.1:${lsPort}/metrics`)).text();
  const published = () =>
    mode === "understudy" ? (readReplicateState(cfg.nodes[0].stateDir)?.manifestPublishes ?? 0) : 0;
  const m0 = await metrics();
  const p0 = published();
  const ls0 = procSample(lsPid);
  const sup0 = mode === "understudy" ? procSample(child.pid ?? 0) : undefined;
  const tSteady = Date.now();
  while (Date.now() - tSteady < seconds * 1000) {
    await sleep(500);
    sampleRss();
  }
  const m1 = await metrics();
  const p1 = published();
  const ls1 = procSample(lsPid);
  const sup1 = mode === "understudy" ? procSample(child.pid ?? 0) : undefined;
  const elapsed = (Date.now() - tSteady) / 1000;
  load.close();
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  const delta = (name: string) => metricSum(m1, name, { operation: "PUT" }) - metricSum(m0, name, { operation: "PUT" });
  return {
    litestreamCpuPct: ((ls1!.cpuSeconds - ls0!.cpuSeconds) / elapsed) * 100,
    litestreamPeakRss: lsPeak,
    supervisorCpuPct: sup0 && sup1 ? ((sup1.cpuSeconds - sup0.cpuSeconds) / elapsed) * 100 : undefined,
    supervisorPeakRss: mode === "understudy" ? supPeak : undefined,
    putsPerMin: delta("litestream_replica_operation_total") / (elapsed / 60),
    manifestPutsPerMin: (p1 - p0) / (elapsed / 60),
    bytesPerMin: delta("litestream_replica_operation_bytes") / (elapsed / 60),
    firstSnapshotsSeconds: firstSnapshots,
  };
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "understudy-bench-"));
  try {
    const inventory = loadInventory(INVENTORY_FILE);
    const dataDir = join(root, "primary");
    const t = Date.now();
    const fleet = createFleet(dataDir, inventory, scale);
    const total = fleet.reduce((a, b) => a + b.bytes, 0);
    console.log(
      `fleet: ${inventory.length} databases, ${formatSize(total)} (scale ${scale}), created in ${((Date.now() - t) / 1000).toFixed(1)}s`,
    );
    console.log(
      `load: ${writes} writes/s per database (${writes * inventory.length}/s in all) for ${seconds}s of steady state per run, after the first snapshots; store: Azurite on loopback\n`,
    );
    const names = inventory.map((e) => e.name);
    // A fresh Azurite per run: one that already holds a gigabyte in memory is slower, and would skew the second.
    const fresh = async (mode: "litestream" | "understudy") => {
      const azurite = new AzuriteServer();
      await azurite.start();
      try {
        return await run(mode, root, dataDir, names, azurite);
      } finally {
        await azurite.stop();
      }
    };
    const base = await fresh("litestream");
    const ours = await fresh("understudy");
    const f = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? "-" : v.toFixed(d));
    const ratio = (a?: number, b?: number) => (a && b ? `${(b / a).toFixed(2)}x` : "-");
    console.log(
      renderTable([
        ["", "litestream alone (plan)", "understudy replicate", "ratio"],
        [
          "litestream CPU %",
          f(base.litestreamCpuPct),
          f(ours.litestreamCpuPct),
          ratio(base.litestreamCpuPct, ours.litestreamCpuPct),
        ],
        [
          "litestream peak RSS",
          formatSize(base.litestreamPeakRss),
          formatSize(ours.litestreamPeakRss),
          ratio(base.litestreamPeakRss, ours.litestreamPeakRss),
        ],
        ["supervisor CPU % (steady)", "-", f(ours.supervisorCpuPct), "-"],
        ["supervisor peak RSS", "-", formatSize(ours.supervisorPeakRss ?? 0), "-"],
        [
          "Litestream PUTs / min",
          f(base.putsPerMin, 0),
          f(ours.putsPerMin, 0),
          ratio(base.putsPerMin, ours.putsPerMin),
        ],
        ["positions manifest PUTs / min", "-", f(ours.manifestPutsPerMin, 0), "-"],
        [
          "bytes to store / min",
          formatSize(base.bytesPerMin),
          formatSize(ours.bytesPerMin),
          ratio(base.bytesPerMin, ours.bytesPerMin),
        ],
        [
          "all first snapshots (s)",
          f(base.firstSnapshotsSeconds),
          f(ours.firstSnapshotsSeconds),
          ratio(base.firstSnapshotsSeconds, ours.firstSnapshotsSeconds),
        ],
      ]),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:replicate failed: ${e.message}`);
  process.exitCode = 1;
});
