import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { effective, selectNode } from "../config/load";
import type { SecretRef } from "../config/secretRef";
import type { UnderstudyConfig } from "../config/types";
import { discover } from "../fleet/discover";
import { findLitestream, type LitestreamFound } from "../litestream/binary";
import { formatProblem, storeFormats } from "../litestream/format";
import { resolveSecretFrom } from "../secrets/resolve";
import { openStore, storeBackend } from "../store/open";
import { formatDuration } from "../util/duration";
import { splitHostPort } from "../util/net";
import { withTimeout } from "../util/timeout";
import { secretsNeeded } from "./secretsNeeded";

export type CheckResult = { check: string; status: "pass" | "fail" | "warn" | "skip"; detail: string };

/** Every check a careful operator runs before reloading replication. Loading the config already passed. */
export async function validateConfig(
  cfg: UnderstudyConfig,
  opts: { online: boolean; node?: string },
): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const add = (check: string, status: CheckResult["status"], detail: string) => out.push({ check, status, detail });

  add(
    "config",
    "pass",
    `${cfg.file}: ${cfg.nodes.length} nodes, ${cfg.tiers.size} tiers, ${cfg.databases.length} databases; tiers exist, sync < retention, replica paths unique and not nested`,
  );

  const primary = opts.node ? selectNode(cfg, { name: opts.node }) : cfg.nodes.find((n) => n.role === "primary");
  if (primary && existsSync(primary.dataDir)) {
    const r = discover(primary.dataDir, cfg);
    const un = r.found.filter((f) => f.status === "unreplicated");
    add(
      "coverage",
      un.length ? "fail" : "pass",
      un.length
        ? `${un.length} database(s) in ${primary.dataDir} neither replicated nor excluded: ${un.map((u) => u.name).join(", ")}`
        : `every SQLite database in ${primary.dataDir} is replicated or excluded (${r.found.length} found)`,
    );
    if (r.missing.length)
      add("present", "warn", `${r.missing.length} configured database(s) not on disk yet: ${r.missing.join(", ")}`);
  } else {
    add("coverage", "skip", `data dir ${primary?.dataDir ?? "(no node)"} is not on this machine`);
  }

  const slow = cfg.databases.filter((d) => effective(cfg, d).syncInterval > 60_000 && effective(cfg, d).follow);
  add(
    "rpo",
    slow.length ? "warn" : "pass",
    slow.length
      ? `sync interval above 60s breaks the 60s RPO for: ${slow.map((d) => `${d.name} (${formatDuration(effective(cfg, d).syncInterval)})`).join(", ")}`
      : "every followed database syncs within 60s",
  );

  try {
    splitHostPort(cfg.litestream.metricsAddr, "litestream.metrics-addr");
    if (cfg.replicate.metricsListen) splitHostPort(cfg.replicate.metricsListen, "replicate.metrics-listen");
    add(
      "addresses",
      "pass",
      `litestream metrics ${cfg.litestream.metricsAddr}, replicate metrics ${cfg.replicate.metricsListen || "off"}`,
    );
  } catch (e) {
    add("addresses", "fail", (e as Error).message);
  }

  let found: LitestreamFound | undefined;
  try {
    found = await findLitestream(cfg.litestream);
    add(
      "litestream",
      "pass",
      `${found.path} (${found.source}) is Litestream ${found.version}: it writes ${found.family === "0.5" ? "LTX files (0.5)" : "generations of WAL segments (0.3)"}`,
    );
  } catch (e) {
    add("litestream", "fail", (e as Error).message);
  }

  const resolves = async (refs: [string, SecretRef | undefined][], missing: "fail" | "warn", note = "") => {
    for (const [field, ref] of refs) {
      if (!ref) continue;
      try {
        const r = await resolveSecretFrom(ref, field);
        const layer = ref.chain
          ? ` — answered by ${r.from}${r.tried.length ? ` (${r.tried.map((t) => `${t.ref}: ${t.error}`).join("; ")})` : ""}`
          : "";
        add("secret", "pass", `${field} (${ref.text}) resolves${layer}`);
      } catch (e) {
        add("secret", missing, `${(e as Error).message}${note}`);
      }
    }
  };
  const s = cfg.store;
  const backend = storeBackend(s);
  for (const line of backend.preflight()) add(line.check, line.status, line.detail);
  // The store's secrets every node needs; the others only where their role runs: a missing one is a warning.
  const where: Record<string, string> = {
    inference: " (needed where the inference proxy runs)",
    heartbeat: " (needed where the heartbeat watcher runs)",
    secrets: " (needed where secrets keep-session runs)",
  };
  for (const { field, ref } of secretsNeeded(cfg)) {
    const role = field.split(".")[0];
    await resolves([[field, ref]], role === "store" ? "fail" : "warn", where[role] ?? "");
  }

  if (!opts.online) {
    add("store-online", "skip", "pass --online to check the store is reachable and writable");
    return out;
  }
  try {
    const store = await openStore(s);
    const key = `${s.prefix}.understudy-probe/${hostname()}-${process.pid}-${Date.now()}`;
    const body = Buffer.from(`understudy validate probe ${new Date().toISOString()}`);
    await withTimeout(store.put(key, body), 20_000, "upload timed out after 20s");
    const back = await withTimeout(store.get(key), 20_000, "download timed out after 20s");
    await withTimeout(store.delete(key), 20_000, "delete timed out after 20s");
    add(
      "store-online",
      back.equals(body) ? "pass" : "fail",
      back.equals(body)
        ? `${store.describe()} is reachable and writable`
        : `${store.describe()} returned different bytes than were written`,
    );
    if (found) {
      const formats = await withTimeout(storeFormats(cfg, store), 60_000, "listing the replicas timed out after 60s");
      const problem = formatProblem(found.family, formats, cfg.litestream.format);
      const count = (f: string) => [...formats.values()].filter((x) => x === f).length;
      add(
        "store-format",
        problem ? "fail" : "pass",
        problem ??
          `replicas: ${count("0.3")} of Litestream 0.3, ${count("0.5")} of 0.5, ${count("both")} of both, ${count("empty")} none yet; Litestream ${found.family} fits`,
      );
    }
  } catch (e) {
    add("store-online", "fail", `${backend.describe()}: ${(e as Error).message.split("\n")[0]}`);
  }
  return out;
}
