import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { loadConfig, parseConfig } from "../../src/config/load";
import type { UnderstudyConfig } from "../../src/config/types";
import { createDatabase } from "../../src/demo/fleet";
import { type FleetConfigOptions, fleetConfigYaml } from "../../src/demo/fleetConfig";
import { LoadWriter } from "../../src/demo/load";
import type { InventoryEntry } from "../../src/fleet/inventory";
import { Replicator } from "../../src/replicate/replicator";
import { freePort } from "../../src/util/net";

export type Entry = Pick<InventoryEntry, "name" | "tier" | "size" | "writeFrequency">;

export const SMALL_FLEET: Entry[] = [
  { name: "mission-control.db", tier: "P0-critical", size: 200_000, writeFrequency: "very-high" },
  { name: "tasks.db", tier: "P0-critical", size: 20_000, writeFrequency: "high" },
  { name: "invoices.db", tier: "P0-financial", size: 40_000, writeFrequency: "medium" },
  { name: "flywheel.db", tier: "P1", size: 400_000, writeFrequency: "low" },
  { name: "vcr.db", tier: "P2", size: 30_000, writeFrequency: "low" },
];

/** Creates the fleet's files and a config for it (file store unless told otherwise). */
export async function makeFleet(
  dir: string,
  entries: Entry[] = SMALL_FLEET,
  extra: Partial<FleetConfigOptions> & { create?: boolean } = {},
): Promise<{ cfg: UnderstudyConfig; file: string; dataDir: string }> {
  const dataDir = join(dir, "primary");
  for (const e of entries) if (extra.create !== false) createDatabase(join(dataDir, e.name), e.size);
  const yaml = fleetConfigYaml({
    dataDir,
    standbyDir: join(dir, "standby"),
    stateDir: join(dir, "state"),
    store: { type: "file", path: join(dir, "store") },
    inventory: entries,
    litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
    metricsListen: "127.0.0.1:0",
    syncInterval: "1s",
    restartBackoffMin: "200ms",
    ...extra,
  });
  const file = join(dir, "understudy.yml");
  writeFileSync(file, yaml);
  return { cfg: parseConfig(yaml, file), file, dataDir };
}

/** A running primary for a test: the replicate role plus a load writer, both stopped when the test ends. */
export async function startPrimary(
  t: { after: (fn: () => Promise<void>) => void },
  cfg: UnderstudyConfig,
  names: string[],
  writesPerSecond = 5,
): Promise<{ r: Replicator; load: LoadWriter }> {
  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), tickMs: 200 });
  const load = new LoadWriter(cfg.nodes[0].dataDir, names, writesPerSecond);
  t.after(async () => {
    load.close();
    await r.stop();
  });
  await r.start();
  load.start();
  return { r, load };
}

/** Adds YAML lines to a fleet's config (before its `replicate:` section) and loads it again. */
export function extendConfig(file: string, lines: string): UnderstudyConfig {
  writeFileSync(file, readFileSync(file, "utf8").replace("replicate:\n", `${lines.replace(/\n?$/, "\n")}replicate:\n`));
  return loadConfig(file);
}

/** Two free ports for the nodes' health servers, and the health-url of each, for makeFleet's `healthUrls`. */
export async function healthPorts(): Promise<{
  ports: { primary: number; standby: number };
  healthUrls: { primary: string; standby: string };
}> {
  const ports = { primary: await freePort(), standby: await freePort() };
  return {
    ports,
    healthUrls: { primary: `http://127.0.0.1:${ports.primary}`, standby: `http://127.0.0.1:${ports.standby}` },
  };
}
