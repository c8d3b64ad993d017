import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import type { Node } from "yaml";
import { formatDuration } from "../util/duration";
import { closest } from "../util/suggest";
import { DEFAULT_COST, DEFAULT_FOLLOW, DEFAULT_LITESTREAM, DEFAULT_REPLICATE, planTiers } from "./defaults";
import { readDrill } from "./drillConfig";
import { ConfigError, UserError } from "./errors";
import { readFailover } from "./failoverConfig";
import { readInference } from "./inferenceConfig";
import { readDiscovery, readHealth, readHeartbeat } from "./opsConfig";
import { secret } from "./secretField";
import { readSecrets } from "./secretsConfig";
import type {
  AbsStoreConfig,
  CostConfig,
  DatabaseConfig,
  NodeConfig,
  StoreConfig,
  TierConfig,
  UnderstudyConfig,
  WriteFrequency,
} from "./types";
import { MapReader, YamlContext } from "./yamlReader";

export const DEFAULT_CONFIG_FILE = "understudy.yml";
const WRITE_FREQUENCIES: readonly WriteFrequency[] = ["very-high", "high", "medium", "low"];

export function loadConfig(file = DEFAULT_CONFIG_FILE): UnderstudyConfig {
  if (!existsSync(file)) {
    throw new UserError(
      `${file}: no such config file. Write a starter one with \`understudy init\`, or pass --config FILE.`,
    );
  }
  const st = statSync(file);
  if (!st.isFile())
    throw new UserError(`${file}: is not a file (a directory?); pass the config file with --config FILE`);
  // The plan's whole fleet is about 10 KB; far larger is a wrong file, and a YAML parser's time and memory grow
  // with it (a 50 MB file ran out of heap).
  if (st.size > MAX_CONFIG_BYTES)
    throw new UserError(
      `${file}: ${Math.round(st.size / 1024)} KB is larger than a config file can be (${MAX_CONFIG_BYTES / 1024 / 1024} MB); is it the right file?`,
    );
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new UserError(`${file}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseConfig(text, file);
}

/** 10,000 databases with every field set stay well under this. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

export function parseConfig(text: string, file: string): UnderstudyConfig {
  const ctx = new YamlContext(file, text);
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const base = dirname(resolve(file));
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p.replace(/^~(?=\/)/, process.env.HOME ?? "~")));
  const top = MapReader.of(ctx, ctx.root, "");
  if (!top) throw new ConfigError(ctx.problems);

  const version = top.num("version", { integer: true, min: 1 });
  if (version !== undefined && version !== 1) ctx.report(top.raw("version"), "version", "only version 1 exists");

  const nodes = readNodes(top, abs);
  const store = readStore(top, abs);
  const tiers = readTiers(top);
  const databases = readDatabases(top, tiers);
  const exclude = top.strList("exclude") ?? [];

  const ls = top.map("litestream");
  const litestream = {
    binary: ls?.str("binary") ? abs(ls.str("binary") as string) : undefined,
    expectedVersion: ls?.str("version") ?? DEFAULT_LITESTREAM.expectedVersion,
    format: ls?.oneOf("format", ["auto", "0.3", "0.5"] as const) ?? DEFAULT_LITESTREAM.format,
    metricsAddr: ls?.listen("metrics-addr") ?? DEFAULT_LITESTREAM.metricsAddr,
  };
  ls?.finish();

  const rep = top.map("replicate");
  const replicate = {
    metricsListen: rep?.listen("metrics-listen", "serves none") ?? DEFAULT_REPLICATE.metricsListen,
    publishInterval: rep?.duration("publish-interval", false, "disables it") ?? DEFAULT_REPLICATE.publishInterval,
    gapCheckInterval: rep?.duration("gap-check-interval", false, "disables it") ?? DEFAULT_REPLICATE.gapCheckInterval,
    restartBackoffMin: rep?.duration("restart-backoff-min") ?? DEFAULT_REPLICATE.restartBackoffMin,
    restartBackoffMax: rep?.duration("restart-backoff-max") ?? DEFAULT_REPLICATE.restartBackoffMax,
  };
  if (rep && replicate.restartBackoffMin > replicate.restartBackoffMax)
    rep.ctx.report(
      rep.raw("restart-backoff-min") ?? rep.raw("restart-backoff-max"),
      "replicate.restart-backoff-min",
      `is longer than restart-backoff-max (${formatDuration(replicate.restartBackoffMax)}): the first wait must not exceed the longest`,
    );
  rep?.finish();

  const fol = top.map("follow");
  const follow = {
    pollInterval: fol?.duration("poll-interval") ?? DEFAULT_FOLLOW.pollInterval,
    probeInterval: fol?.duration("probe-interval") ?? DEFAULT_FOLLOW.probeInterval,
    concurrency: fol?.num("concurrency", { min: 1, integer: true }) ?? DEFAULT_FOLLOW.concurrency,
    metricsListen: fol?.listen("metrics-listen", "serves none") ?? DEFAULT_FOLLOW.metricsListen,
  };
  fol?.finish();
  const cost = readCost(top);
  const health = readHealth(top.map("health"));
  const heartbeat = readHeartbeat(top.map("heartbeat"), abs);
  const discovery = readDiscovery(top.map("discovery"), abs);
  const failover = readFailover(top.map("failover"));
  const secrets = readSecrets(top.map("secrets"), abs);
  const drill = readDrill(top.map("drill"), abs);
  const blind = nodes.filter((n) => !n.healthUrl && !n.address && !n.tailscaleAddress).map((n) => n.name);
  if (failover.mode === "automatic" && blind.length)
    ctx.report(
      top.map("failover")?.raw("mode") ?? null,
      "failover.mode",
      `automatic failover checks the primary's /primary endpoint, but ${blind.join(", ")} has no health-url, address or tailscale-address`,
    );
  const inf = top.map("inference");
  const inference = inf ? readInference(inf, file) : undefined;
  top.finish();

  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  return {
    file,
    nodes,
    store: store as StoreConfig,
    litestream,
    replicate,
    follow,
    tiers,
    databases,
    exclude,
    cost,
    inference,
    health,
    heartbeat,
    discovery,
    failover,
    secrets,
    drill,
  };
}

function readNodes(top: MapReader, abs: (p: string) => string): NodeConfig[] {
  const m = top.map("nodes", true);
  if (!m) return [];
  const nodes: NodeConfig[] = [];
  for (const name of m.keys()) {
    const n = MapReader.of(m.ctx, m.raw(name), m.field(name));
    if (!n) continue;
    const role = n.oneOf("role", ["primary", "standby"] as const, true);
    const dataDir = n.str("data-dir", true);
    const stateDir = n.str("state-dir");
    const node: NodeConfig = {
      name,
      role: role ?? "primary",
      address: n.str("address"),
      tailscaleAddress: n.str("tailscale-address"),
      healthUrl: n.str("health-url"),
      dataDir: dataDir ? abs(dataDir) : "",
      stateDir: stateDir ? abs(stateDir) : dataDir ? resolve(abs(dataDir), ".understudy") : "",
    };
    if (node.healthUrl && !/^https?:\/\/[^/\s]+\/?$/.test(node.healthUrl))
      n.ctx.report(
        n.raw("health-url") ?? null,
        n.field("health-url"),
        `"${node.healthUrl}" is not a base URL like http://100.103.49.98:8099`,
      );
    n.finish();
    nodes.push(node);
  }
  const primaries = nodes.filter((n) => n.role === "primary");
  if (nodes.length && primaries.length !== 1) {
    m.ctx.report(
      m.node,
      "nodes",
      `exactly one node must have role: primary (found ${primaries.length}: ${primaries.map((p) => p.name).join(", ") || "none"})`,
    );
  }
  return nodes;
}

function readStore(top: MapReader, abs: (p: string) => string): StoreConfig | undefined {
  const s = top.map("store", true);
  if (!s) return undefined;
  const type = s.oneOf("type", ["file", "abs"] as const, true);
  const prefix = normalisePrefix(s.str("prefix") ?? "");
  if (type === "file") {
    const path = s.str("path", true);
    s.finish();
    return { type, path: path ? abs(path) : "", prefix };
  }
  if (type === "abs") {
    const store: AbsStoreConfig = {
      type,
      account: s.str("account", true) ?? "",
      container: s.str("container", true) ?? "",
      prefix,
      endpoint: s.str("endpoint"),
      accountKey: secret(s, "account-key"),
    };
    const sp = s.map("service-principal");
    if (sp) {
      const tenantId = sp.str("tenant-id", true);
      const clientId = sp.str("client-id", true);
      const clientSecret = secret(sp, "client-secret", true);
      sp.finish();
      if (tenantId && clientId && clientSecret) store.servicePrincipal = { tenantId, clientId, clientSecret };
    }
    if (!store.accountKey && !sp && s.ctx.problems.length === 0) {
      s.ctx.report(
        s.node,
        s.field("account-key"),
        "the abs store needs credentials: account-key (a secret reference such as env:LITESTREAM_AZURE_ACCOUNT_KEY) and/or service-principal",
      );
    }
    s.finish();
    return store;
  }
  s.finish(["path", "account", "container", "endpoint", "account-key", "service-principal"]);
  return undefined;
}

function normalisePrefix(p: string): string {
  const t = p.replace(/^\/+/, "");
  return t && !t.endsWith("/") ? `${t}/` : t;
}

function readTiers(top: MapReader): Map<string, TierConfig> {
  const m = top.map("tiers");
  if (!m) return planTiers();
  const tiers = new Map<string, TierConfig>();
  for (const name of m.keys()) {
    const t = MapReader.of(m.ctx, m.raw(name), m.field(name));
    if (!t) continue;
    const sync = t.duration("sync-interval", true);
    const tier: TierConfig = {
      name,
      retention: t.duration("retention", true) ?? 0,
      syncInterval: sync ?? 0,
      retentionCheckInterval: t.duration("retention-check-interval") ?? 3_600_000,
      snapshotInterval: t.duration("snapshot-interval") ?? 86_400_000,
      follow: t.bool("follow") ?? true,
      critical: t.bool("critical") ?? name.startsWith("P0"),
      checkpointInterval: t.duration("checkpoint-interval"),
      minCheckpointPageCount: t.num("min-checkpoint-page-count", { min: 1, integer: true }),
    };
    if (tier.syncInterval && tier.retention && tier.syncInterval >= tier.retention)
      t.ctx.report(t.raw("sync-interval"), t.field("sync-interval"), "must be shorter than retention");
    if (sync === 0) t.ctx.report(t.raw("sync-interval"), t.field("sync-interval"), "must be more than 0");
    t.finish();
    tiers.set(name, tier);
  }
  return tiers;
}

function readDatabases(top: MapReader, tiers: Map<string, TierConfig>): DatabaseConfig[] {
  const s = top.seq("databases");
  if (!s) {
    top.ctx.report(top.node, "databases", "is required: list the databases to replicate");
    return [];
  }
  const out: DatabaseConfig[] = [];
  const byName = new Map<string, number>();
  const byPath = new Map<string, { index: number; node: Node; report: (message: string) => void }>();
  s.items.forEach((item, i) => {
    const d = MapReader.of(top.ctx, item, `databases[${i}]`);
    if (!d) return;
    const name = d.str("name", true);
    const tier = d.str("tier", true);
    const replicaPath = d.str("path") ?? (name ? name.replace(/\.(db|sqlite3?)$/i, "") : undefined);
    const writes = d.raw("writes");
    let writeFrequency: WriteFrequency | undefined;
    let writesPerSecond: number | undefined;
    if (writes !== undefined) {
      const v = (writes as { value?: unknown }).value;
      if (typeof v === "number") writesPerSecond = d.num("writes", { min: 0 });
      else writeFrequency = d.oneOf("writes", WRITE_FREQUENCIES);
    }
    const db: DatabaseConfig = {
      name: name ?? "",
      tier: tier ?? "",
      replicaPath: replicaPath ?? "",
      syncInterval: d.duration("sync-interval"),
      retention: d.duration("retention"),
      size: d.size("size"),
      writeFrequency,
      writesPerSecond,
    };
    if (tier && !tiers.has(tier)) {
      const guess = closest(tier, [...tiers.keys()]);
      d.ctx.report(
        d.raw("tier"),
        d.field("tier"),
        `no tier named "${tier}"${guess ? `; did you mean "${guess}"?` : ` (tiers: ${[...tiers.keys()].join(", ")})`}`,
      );
    }
    let duplicate = false;
    if (name) {
      if (name.includes("..") || name.startsWith("/"))
        d.ctx.report(d.raw("name"), d.field("name"), "must be a file name inside the node's data dir");
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
      if (/[\u0000-\u001f\u007f]/.test(name))
        d.ctx.report(d.raw("name"), d.field("name"), "must not contain control characters (NUL, newline, tab, …)");
      const prev = byName.get(name);
      duplicate = prev !== undefined;
      if (duplicate) d.ctx.report(d.raw("name"), d.field("name"), `"${name}" is already listed as databases[${prev}]`);
      else byName.set(name, i);
    }
    const t = tiers.get(db.tier);
    const sync = db.syncInterval ?? t?.syncInterval;
    const retention = db.retention ?? t?.retention;
    if (sync !== undefined && retention !== undefined && sync >= retention)
      d.ctx.report(d.raw("sync-interval") ?? item, d.field("sync-interval"), "must be shorter than retention");
    if (db.replicaPath && !duplicate) {
      const clean = db.replicaPath.replace(/\/+$/, "");
      db.replicaPath = clean;
      const same = byPath.get(clean);
      if (same)
        d.ctx.report(
          d.raw("path") ?? item,
          d.field("path"),
          `replica path "${clean}" is already used by databases[${same.index}]; two databases writing one replica destroy each other's backups`,
        );
      else
        byPath.set(clean, {
          index: i,
          node: item,
          report: (m) => d.ctx.report(d.raw("path") ?? item, d.field("path"), m),
        });
    }
    d.finish();
    out.push(db);
  });
  // Nesting, by looking up each path's own prefixes: linear in the number of databases, not quadratic.
  for (const [path, at] of byPath) {
    const parts = path.split("/");
    for (let k = 1; k < parts.length; k++) {
      const outer = byPath.get(parts.slice(0, k).join("/"));
      if (outer)
        at.report(
          `replica path "${path}" is nested inside databases[${outer.index}]'s "${parts.slice(0, k).join("/")}"; Litestream would list one replica's generations inside the other`,
        );
    }
  }
  return out;
}

function readCost(top: MapReader): CostConfig {
  const c = top.map("cost");
  if (!c) return DEFAULT_COST;
  const p = c.map("prices");
  const d = DEFAULT_COST;
  const prices = {
    currency: p?.str("currency") ?? d.prices.currency,
    source: p?.str("source") ?? (p ? "set in the config" : d.prices.source),
    storagePerGbMonth: p?.num("storage-per-gb-month", { min: 0 }) ?? d.prices.storagePerGbMonth,
    writePer10k: p?.num("write-per-10k", { min: 0 }) ?? d.prices.writePer10k,
    listPer10k: p?.num("list-per-10k", { min: 0 }) ?? d.prices.listPer10k,
    readPer10k: p?.num("read-per-10k", { min: 0 }) ?? d.prices.readPer10k,
  };
  p?.finish();
  const w = c.map("writes-per-second");
  const writesPerSecond = { ...d.writesPerSecond };
  for (const k of WRITE_FREQUENCIES) writesPerSecond[k] = w?.num(k, { min: 0 }) ?? writesPerSecond[k];
  w?.finish();
  const out: CostConfig = {
    prices,
    writesPerSecond,
    bytesPerWrite: c.num("bytes-per-write", { min: 1 }) ?? d.bytesPerWrite,
    walCompression: c.num("wal-compression", { min: 0 }) ?? d.walCompression,
    standbyPollInterval: c.duration("standby-poll-interval") ?? d.standbyPollInterval,
    standbyListsPerPoll: c.num("standby-lists-per-poll", { min: 0 }) ?? d.standbyListsPerPoll,
  };
  c.finish();
  return out;
}

/** Effective sync interval and retention of one database: its overrides, else its tier's. */
export function effective(cfg: UnderstudyConfig, db: DatabaseConfig) {
  const tier = cfg.tiers.get(db.tier) as TierConfig;
  return {
    tier,
    syncInterval: db.syncInterval ?? tier.syncInterval,
    retention: db.retention ?? tier.retention,
    retentionCheckInterval: tier.retentionCheckInterval,
    snapshotInterval: tier.snapshotInterval,
    follow: tier.follow,
  };
}

/** The node this process plays: --node, then $UNDERSTUDY_NODE, then the only node with the wanted role. */
/**
 * The node a command acts as: --node (or UNDERSTUDY_NODE), else the first node with `role`. With `runs` (the
 * command, e.g. "understudy follow"), a named node must have `role`: a follower pointed at the primary would
 * overwrite its live databases with the store's older copies, a replicator on the standby would upload copies.
 */
export function selectNode(
  cfg: UnderstudyConfig,
  opts: { name?: string; role?: "primary" | "standby"; runs?: string },
): NodeConfig {
  const name = opts.name ?? process.env.UNDERSTUDY_NODE;
  if (name) {
    const n = cfg.nodes.find((x) => x.name === name);
    if (!n) {
      const guess = closest(
        name,
        cfg.nodes.map((x) => x.name),
      );
      throw new UserError(
        `${cfg.file}: no node named "${name}"${guess ? `; did you mean "${guess}"?` : ""} (nodes: ${cfg.nodes.map((x) => x.name).join(", ")})`,
      );
    }
    if (opts.runs && opts.role && n.role !== opts.role) {
      const right = cfg.nodes.filter((x) => x.role === opts.role).map((x) => x.name);
      throw new UserError(
        `${cfg.file}: node "${n.name}" is the ${n.role}; ${opts.runs} runs only on the ${opts.role}${right.length ? ` (--node ${right.join(" or ")})` : ""}. Nothing was started.`,
      );
    }
    return n;
  }
  const role = opts.role ?? "primary";
  const n = cfg.nodes.find((x) => x.role === role);
  if (!n) throw new UserError(`${cfg.file}: no node has role: ${role}; pass --node NAME`);
  return n;
}
