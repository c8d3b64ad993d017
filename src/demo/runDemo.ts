import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { parseConfig } from "../config/load";
import type { UnderstudyConfig } from "../config/types";
import { loadInventory } from "../fleet/inventory";
import { digestDatabase } from "../fleet/rowHash";
import { Follower, type FollowState } from "../follower/follower";
import { findLitestream, type LitestreamFound, litestreamBinary } from "../litestream/binary";
import { formatPosition } from "../replica/layout";
import { Replicator } from "../replicate/replicator";
import type { ReplicateState } from "../replicate/state";
import { type VerifyReport, verifyStore } from "../replicate/verify";
import { ABS_KEY_ENV } from "../store/absBackend";
import { AbsStore } from "../store/absStore";
import { CountingStore } from "../store/countingStore";
import { openStore } from "../store/open";
import { freePort } from "../util/net";
import { AZURITE_ACCOUNT, AZURITE_KEY, AzuriteServer } from "./azurite";
import { createFleet } from "./fleet";
import { fleetConfigYaml } from "./fleetConfig";
import { endToEndLag } from "./lag";
import { LoadWriter } from "./load";
import { type RestoreComparison, restoreAndCompare } from "./restoreCheck";

export interface DemoOptions {
  scale: number;
  seconds: number;
  azurite: boolean;
  keep: boolean;
  /** The Litestream binary to use instead of the one found by default. */
  litestream?: string;
  /** Progress lines for a person; the demo prints nothing else while it runs. */
  progress: (line: string, final?: boolean) => void;
}

export interface DemoResult {
  dir: string;
  kept: boolean;
  store: string;
  databases: number;
  fleetBytes: number;
  writes: number;
  secondsToAllSnapshots?: number;
  state: ReplicateState;
  verify: VerifyReport;
  restores: RestoreComparison[];
  follow: FollowState;
  /** Lag samples across following databases while load ran, in ms. */
  lag: { p50: number; p99: number; max: number; samples: number };
  standbyEqual: { name: string; equal: boolean; rows: number }[];
  /** Which Litestream ran: its path, where it was found, its version and line. */
  litestream?: LitestreamFound;
  ok: boolean;
}

export const INVENTORY_FILE = resolve(__dirname, "..", "..", "..", "examples", "fleet-inventory.tsv");

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const dir = mkdtempSync(join(tmpdir(), "understudy-demo-"));
  const azurite = o.azurite ? new AzuriteServer() : undefined;
  let replicator: Replicator | undefined;
  let load: LoadWriter | undefined;
  let follower: Follower | undefined;
  try {
    const inventory = loadInventory(INVENTORY_FILE);
    o.progress(`creating ${inventory.length} databases at ${o.scale} of the plan's sizes in ${dir}`, true);
    const fleet = createFleet(join(dir, "primary"), inventory, o.scale);
    const fleetBytes = fleet.reduce((a, b) => a + b.bytes, 0);

    let storeOpt: Parameters<typeof fleetConfigYaml>[0]["store"] = { type: "file", path: join(dir, "store") };
    if (azurite) {
      o.progress("starting Azurite (Azure Blob Storage emulator) on loopback", true);
      await azurite.start();
      process.env.UNDERSTUDY_DEMO_AZURITE_KEY = AZURITE_KEY;
      storeOpt = {
        type: "abs",
        endpoint: azurite.endpoint,
        container: "system-db-backups",
        keyEnv: "UNDERSTUDY_DEMO_AZURITE_KEY",
      };
      await new AbsStore(
        AZURITE_ACCOUNT,
        "system-db-backups",
        { accountKey: AZURITE_KEY },
        azurite.endpoint,
      ).ensureContainer();
    }
    const cfgFile = join(dir, "understudy.yml");
    const yaml = fleetConfigYaml({
      dataDir: join(dir, "primary"),
      standbyDir: join(dir, "standby"),
      stateDir: join(dir, "state"),
      store: storeOpt,
      inventory,
      litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
      metricsListen: "127.0.0.1:0",
      litestreamBinary: o.litestream,
    });
    // Written out so that, with --keep, `understudy status --config DIR/understudy.yml` works on what is left.
    writeFileSync(cfgFile, yaml);
    const cfg: UnderstudyConfig = parseConfig(yaml, cfgFile);
    const node = cfg.nodes[0];
    const found = await findLitestream(cfg.litestream);
    o.progress(
      `Litestream ${found.version} (${found.family === "0.5" ? "LTX replicas" : "generations of WAL segments"}): ${found.path}, ${found.source}`,
      true,
    );
    replicator = new Replicator(cfg, node, { log: pino({ level: "silent" }), tickMs: 250 });
    const standby = cfg.nodes[1];
    follower = new Follower(cfg, standby, new CountingStore(await openStore(cfg.store)), {
      log: pino({ level: "silent" }),
      pollMs: 500,
    });
    load = new LoadWriter(
      node.dataDir,
      inventory.map((e) => e.name),
      2,
      256,
      true,
    );

    const t0 = Date.now();
    await replicator.start();
    load.start();
    follower.start();
    const lags: number[] = [];
    let lastLagSample = 0;
    let allSnapshotsAt: number | undefined;
    const snapshotted = () => replicator?.state.databases.filter((d) => d.lastSnapshotAt).length ?? 0;
    while (Date.now() - t0 < o.seconds * 1000 || (!allSnapshotsAt && Date.now() - t0 < 120_000)) {
      await sleep(250);
      const n = snapshotted();
      if (!allSnapshotsAt && n === inventory.length) allSnapshotsAt = Date.now();
      const uploads = replicator.state.databases.reduce((a, d) => a + d.uploads, 0);
      const fs = follower.state.databases;
      const following = fs.filter((d) => d.phase === "following");
      if (Date.now() - lastLagSample >= 1000 && following.length === fs.length) {
        lastLagSample = Date.now();
        for (const d of fs) {
          const l = endToEndLag(load, d.name, join(standby.dataDir, d.name));
          if (l !== undefined) lags.push(l);
        }
      }
      o.progress(
        `replicating: ${n}/${inventory.length} snapshotted, ${uploads} WAL segments uploaded, ${load.writes} rows written | standby: ${following.length}/${fs.length} following, worst lag ${(Math.max(0, ...lags.slice(-fs.length)) / 1000).toFixed(1)}s | ${((Date.now() - t0) / 1000).toFixed(0)}s`,
      );
    }
    load.stop();
    o.progress(
      `load stopped after ${load.writes} rows; stopping Litestream (SIGTERM makes it sync what is left)`,
      true,
    );
    await replicator.stop();
    const state = replicator.state;
    load.close();
    load = undefined;

    o.progress("waiting for the standby to apply the last segments", true);
    const manifest = replicator.manifest();
    const f = follower;
    const caughtUp = () =>
      f.state.databases.every((d) => {
        const db = cfg.databases.find((x) => x.name === d.name);
        const m = db ? manifest.databases[db.replicaPath] : undefined;
        return m && d.position === formatPosition(m);
      });
    for (let i = 0; i < 240 && !caughtUp(); i++) await sleep(250);
    await follower.stop();
    const followState = follower.state;
    follower = undefined;
    const standbyEqual = followState.databases.map((d) => {
      const p = digestDatabase(join(node.dataDir, d.name));
      const s2 = digestDatabase(join(cfg.nodes[1].dataDir, d.name));
      return { name: d.name, equal: p.hash === s2.hash && s2.integrity === "ok", rows: s2.rows };
    });

    o.progress("verifying the store", true);
    const store = await openStore(cfg.store);
    const verify = await verifyStore(cfg, store, node);

    const binary = litestreamBinary(cfg.litestream);
    const restores: RestoreComparison[] = [];
    for (const name of ["mission-control.db", "invoices.db", "vcr.db"]) {
      o.progress(`restoring ${name} with litestream restore and comparing its rows with the primary`, true);
      restores.push(
        await restoreAndCompare({
          binary,
          litestreamConfig: replicator.configPath,
          dataDir: node.dataDir,
          name,
          outDir: dir,
          env: { ...process.env, [ABS_KEY_ENV]: AZURITE_KEY },
        }),
      );
    }
    const ok =
      verify.rows.every((r) => r.status === "ok") &&
      restores.every((r) => r.match) &&
      standbyEqual.every((e) => e.equal);
    lags.sort((a, b) => a - b);
    const q = (p: number) => (lags.length ? lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] : Number.NaN);
    return {
      dir,
      kept: o.keep,
      store: store.describe(),
      databases: inventory.length,
      fleetBytes,
      writes: state.databases.length ? fleetWrites(state) : 0,
      secondsToAllSnapshots: allSnapshotsAt ? (allSnapshotsAt - t0) / 1000 : undefined,
      state,
      verify,
      restores,
      follow: followState,
      lag: { p50: q(0.5), p99: q(0.99), max: lags.length ? lags[lags.length - 1] : Number.NaN, samples: lags.length },
      standbyEqual,
      litestream: found,
      ok,
    };
  } finally {
    load?.close();
    await follower?.stop().catch(() => undefined);
    await replicator?.stop().catch(() => undefined);
    await azurite?.stop();
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
}

function fleetWrites(s: ReplicateState): number {
  return s.databases.reduce((a, d) => a + d.uploads, 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
