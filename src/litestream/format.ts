import type { UnderstudyConfig } from "../config/types";
import { listLtx } from "../replica/ltxLayout";
import { replicaPrefix } from "../store/open";
import type { ReplicaStore } from "../store/store";
import type { LitestreamFamily } from "./binary";

/**
 * What a replica in the store holds: Litestream 0.3's generations (`generations/ID/snapshots|wal/…`), 0.5's LTX
 * files (`ltx/LEVEL/MIN-MAX.ltx`), both (a database that moved from 0.3 to 0.5 keeps its old generations until
 * their retention ends), or nothing yet.
 */
export type ReplicaFormat = LitestreamFamily | "both" | "empty";

/** Whether anything is stored under `prefix` (a listing stopped at its first object). */
async function any(store: ReplicaStore, prefix: string): Promise<boolean> {
  for await (const _ of store.list(prefix)) return true;
  return false;
}

/** One replica's format: two listings, each stopped at its first object (a replica may hold thousands). */
export async function replicaFormat(store: ReplicaStore, prefix: string): Promise<ReplicaFormat> {
  const [v3, ltx] = await Promise.all([any(store, `${prefix}/generations/`), any(store, `${prefix}/ltx/`)]);
  return v3 && ltx ? "both" : v3 ? "0.3" : ltx ? "0.5" : "empty";
}

/** The format of each database's replica, by name. */
export async function storeFormats(
  cfg: UnderstudyConfig,
  store: ReplicaStore,
  names = cfg.databases.map((d) => d.name),
): Promise<Map<string, ReplicaFormat>> {
  const out = new Map<string, ReplicaFormat>();
  for (const d of cfg.databases.filter((x) => names.includes(x.name)))
    out.set(d.name, await replicaFormat(store, replicaPrefix(cfg.store, d.replicaPath)));
  return out;
}

/**
 * The one rule for a binary against the store (used by validate, doctor and replicate before Litestream starts):
 * a binary of the other line would start a second, separate history beside the replicas there, which nobody
 * would follow or restore by default. Moving on from 0.3 to 0.5 is said explicitly (`litestream.format: "0.5"`).
 * Returns the problem, or undefined when the binary fits.
 */
export function formatProblem(
  family: LitestreamFamily,
  formats: Map<string, ReplicaFormat>,
  configured: UnderstudyConfig["litestream"]["format"],
): string | undefined {
  if (configured !== "auto" && configured !== family)
    return `litestream.format is ${configured}, but the binary is Litestream ${family}: use a ${configured} binary (litestream.binary), or change litestream.format`;
  const other: LitestreamFamily = family === "0.3" ? "0.5" : "0.3";
  const theirs = [...formats].filter(([, f]) => f === other).map(([n]) => n);
  if (!theirs.length) return undefined;
  if (family === "0.5" && configured === "0.5") return undefined;
  const names = `${theirs.slice(0, 3).join(", ")}${theirs.length > 3 ? ` and ${theirs.length - 3} more` : ""}`;
  return family === "0.5"
    ? `the store holds Litestream 0.3 replicas (generations) of ${names}, and this binary is 0.5: it would start a second history (LTX) beside them. Use a 0.3 binary (litestream.binary), or move to 0.5 on purpose with litestream.format: "0.5" (README: Moving from Litestream 0.3 to 0.5)`
    : `the store holds Litestream 0.5 replicas (LTX) of ${names}, and this binary is 0.3: it cannot continue them and would start a second history beside them. Use a 0.5 binary (litestream.binary, or litestream on PATH)`;
}

/** The newest object's time under `prefix` (a full listing), 0 when there is none. */
async function newest(store: ReplicaStore, prefix: string): Promise<number> {
  let t = 0;
  for await (const o of store.list(prefix)) t = Math.max(t, o.lastModified.getTime());
  return t;
}

/**
 * Which history of a replica is current, for restore, verify and the follower: its only one, or — a database
 * that moved from 0.3 to 0.5 keeps its old generations until retention ends — the one written to last.
 */
export async function currentFormat(store: ReplicaStore, prefix: string): Promise<LitestreamFamily | "empty"> {
  const f = await replicaFormat(store, prefix);
  if (f !== "both") return f;
  const ltx = (await listLtx(store, prefix)).reduce((m, x) => Math.max(m, x.at.getTime()), 0);
  return ltx >= (await newest(store, `${prefix}/generations/`)) ? "0.5" : "0.3";
}
