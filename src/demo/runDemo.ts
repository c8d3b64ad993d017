import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import pino from "pino";
import { parseConfig } from "../config/load";
import type { UnderstudyConfig } from "../config/types";
import { loadInventory } from "../fleet/inventory";
import { litestreamBinary } from "../litestream/binary";
import { ABS_KEY_ENV } from "../litestream/render";
import { Replicator } from "../replicate/replicator";
import type { ReplicateState } from "../replicate/state";
import { type VerifyReport, verifyStore } from "../replicate/verify";
import { AbsStore } from "../store/absStore";
import { openStore } from "../store/open";
import { freePort } from "../util/net";
import { AZURITE_ACCOUNT, AZURITE_KEY, AzuriteServer } from "./azurite";
import { createFleet } from "./fleet";
import { fleetConfigYaml } from "./fleetConfig";
import { LoadWriter } from "./load";
import { type RestoreComparison, restoreAndCompare } from "./restoreCheck";

export interface DemoOptions {
  scale: number;
  seconds: number;
  azurite: boolean;
  keep: boolean;
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
  ok: boolean;
}

export const INVENTORY_FILE = resolve(__dirname, "..", "..", "..", "examples", "fleet-inventory.tsv");

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const dir = mkdtempSync(join(tmpdir(), "understudy-demo-"));
  const azurite = o.azurite ? new AzuriteServer() : undefined;
  let replicator: Replicator | undefined;
  let load: LoadWriter | undefined;
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
    const cfg: UnderstudyConfig = parseConfig(
      fleetConfigYaml({
        dataDir: join(dir, "primary"),
        standbyDir: join(dir, "standby"),
        stateDir: join(dir, "state"),
        store: storeOpt,
        inventory,
        litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
        metricsListen: "127.0.0.1:0",
      }),
      join(dir, "understudy.yml"),
    );
    const node = cfg.nodes[0];
    replicator = new Replicator(cfg, node, { log: pino({ level: "silent" }), tickMs: 500 });
    load = new LoadWriter(
      node.dataDir,
      inventory.map((e) => e.name),
      2,
    );

    const t0 = Date.now();
    await replicator.start();
    load.start();
    let allSnapshotsAt: number | undefined;
    const snapshotted = () => replicator?.state.databases.filter((d) => d.lastSnapshotAt).length ?? 0;
    while (Date.now() - t0 < o.seconds * 1000 || (!allSnapshotsAt && Date.now() - t0 < 120_000)) {
      await sleep(250);
      const n = snapshotted();
      if (!allSnapshotsAt && n === inventory.length) allSnapshotsAt = Date.now();
      const uploads = replicator.state.databases.reduce((a, d) => a + d.uploads, 0);
      o.progress(
        `replicating: ${n}/${inventory.length} snapshotted, ${uploads} WAL segments uploaded, ${load.writes} rows written, ${((Date.now() - t0) / 1000).toFixed(0)}s`,
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
    const ok = verify.rows.every((r) => r.status === "ok") && restores.every((r) => r.match);
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
      ok,
    };
  } finally {
    load?.close();
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
