import { existsSync } from "node:fs";
import { UserError } from "../config/errors";
import { loadConfig } from "../config/load";
import { discover } from "../fleet/discover";
import { estimateCost } from "../store/cost";
import { formatSize } from "../util/size";
import { renderTable } from "../util/table";
import { COMMON, config, parse, printJson } from "./args";
import { numberArg } from "./opsArgs";

export async function discoverCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMMON, depth: { type: "string", default: "1" } }, "discover");
  const dir = positionals[0];
  if (!dir) throw new UserError("name the data dir (understudy discover DIR)");
  if (!existsSync(dir)) throw new UserError(`${dir}: no such directory`);
  const configured = values.config !== "understudy.yml" || existsSync("understudy.yml");
  const cfg = configured ? loadConfig(values.config) : undefined;
  const r = discover(dir, cfg, numberArg(values.depth, "depth", { min: 0, max: 32, integer: true }));
  const unreplicated = r.found.filter((f) => f.status === "unreplicated");
  if (values.json) {
    printJson({ ...r, unreplicated: unreplicated.map((u) => u.name), config: cfg?.file ?? null });
  } else {
    const rows = [["DATABASE", "SIZE", "JOURNAL", "WAL", "STATUS"]];
    for (const f of r.found)
      rows.push([
        f.name,
        formatSize(f.size),
        f.journalMode,
        f.walSize ? formatSize(f.walSize) : "-",
        f.status === "replicated" ? (f.tier ?? "") : f.status.toUpperCase(),
      ]);
    console.log(renderTable(rows));
    console.log(
      `\n${r.found.length} SQLite databases in ${dir}: ${r.found.length - unreplicated.length} covered, ${unreplicated.length} UNREPLICATED${cfg ? "" : " (no config: pass --config)"}`,
    );
    if (r.notSqlite.length)
      console.log(`not (yet) SQLite: ${r.notSqlite.join(", ")} (empty files become databases on first write)`);
    if (r.missing.length) console.log(`configured but not on disk: ${r.missing.join(", ")}`);
  }
  return unreplicated.length ? 1 : 0;
}

function money(v: number, currency: string): string {
  return `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ${currency}`;
}

function count(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}

export async function costCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMMON, "cost");
  const cfg = config(values);
  const r = estimateCost(cfg);
  if (values.json) {
    printJson(r);
    return 0;
  }
  const c = r.currency;
  const rows = [["TIER", "DBS", "STORED", "PUTS/MO", "LISTS/MO", "GETS/MO", "STORAGE", "OPERATIONS", "TOTAL/MO"]];
  for (const l of [...r.lines, r.total, r.allAtOneSecond, r.allAtTenSeconds])
    rows.push([
      l.tier,
      String(l.databases),
      `${l.storageGb.toFixed(2)} GB`,
      count(l.walPuts + l.snapshotPuts + l.manifestPuts),
      count(l.retentionLists + l.followerLists),
      count(l.followerGets),
      money(l.storageCost, c),
      money(l.writeCost + l.listCost + l.readCost, c),
      money(l.total, c),
    ]);
  console.log(renderTable(rows));
  console.log(
    `\nStorage alone (what the plan priced): ${money(r.storageOnly, c)}/month. With operations: ${money(r.total.total, c)}/month; every database at a 1 s sync: ${money(r.allAtOneSecond.total, c)}/month, at 10 s: ${money(r.allAtTenSeconds.total, c)}/month. The fleet writes about ${formatSize(r.walBytesPerDay)} of compressed WAL a day.`,
  );
  console.log(
    `Primary's operations: ${money(r.primaryOperationsCost, c)}/month; the follower's: ${money(r.followerOperationsCost, c)}/month (reads, no listings). The plan's 30 s restore loop would have listed ${count(r.planLoop.lists)} times a month: ${money(r.planLoop.cost, c)}/month before downloading anything.`,
  );
  console.log(`Prices: ${r.source}`);
  for (const a of r.assumptions) console.log(`Assumes ${a}.`);
  return 0;
}
