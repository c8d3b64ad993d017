import { basename, dirname } from "node:path";
import { planTiers } from "../config/defaults";
import { ConfigError } from "../config/errors";
import type { TierConfig } from "../config/types";
import { MapReader, YamlContext } from "../config/yamlReader";
import { formatDuration } from "../util/duration";

export interface ImportedDb {
  name: string;
  dir: string;
  tier: string;
  replicaPath: string;
  syncInterval?: number;
  retention?: number;
  /** Why the tier is a guess, when it is one. */
  guess?: string;
}

export interface ImportResult {
  yaml: string;
  databases: ImportedDb[];
  guessed: ImportedDb[];
  warnings: string[];
}

interface RawReplica {
  type?: string;
  url?: string;
  path?: string;
  bucket?: string;
  account?: string;
  endpoint?: string;
  hasLiteralKey: boolean;
  retention?: number;
  syncInterval?: number;
}

function readReplica(r: MapReader): RawReplica {
  const key = r.str("account-key");
  const out: RawReplica = {
    type: r.str("type"),
    url: r.str("url"),
    path: r.str("path"),
    bucket: r.str("bucket"),
    account: r.str("account-name"),
    endpoint: r.str("endpoint"),
    hasLiteralKey: !!key && !/^\$\{?[A-Z_][A-Z0-9_]*\}?$/.test(key),
    retention: r.duration("retention"),
    syncInterval: r.duration("sync-interval"),
  };
  // Everything else Litestream accepts is irrelevant to the import; read it so it is not reported as unknown.
  r.finish([
    "name",
    "retention-check-interval",
    "snapshot-interval",
    "validation-interval",
    "access-key-id",
    "secret-access-key",
    "region",
    "force-path-style",
    "skip-verify",
    "host",
    "user",
    "password",
    "key-path",
    "age",
  ]);
  if (out.url) {
    const m = /^(\w+):\/\/([^@/]+)(?:@([^/]+))?\/?(.*)$/.exec(out.url);
    if (m) {
      out.type ??= m[1] === "abs" ? "abs" : m[1];
      out.bucket ??= m[2];
      out.account ??= m[3];
      out.path ??= m[4];
    }
  }
  if (!out.account && out.endpoint) out.account = /^https?:\/\/([^.]+)\.blob\./.exec(out.endpoint)?.[1];
  return out;
}

function commonPrefix(paths: string[]): string {
  if (!paths.length) return "";
  let p = paths[0];
  for (const x of paths) while (!x.startsWith(p)) p = p.slice(0, -1);
  return p.slice(0, p.lastIndexOf("/") + 1);
}

/** The tier a database belongs to, judged by retention first (it carries the policy) and sync interval second. */
function inferTier(tiers: TierConfig[], retention?: number, sync?: number): { tier: TierConfig; guess?: string } {
  const exact = tiers.filter((t) => t.retention === retention);
  if (exact.length === 1) return { tier: exact[0] };
  if (exact.length > 1) {
    const bySync = exact.find((t) => t.syncInterval === sync) ?? exact[0];
    return {
      tier: bySync,
      guess: `retention ${formatDuration(retention ?? 0)} fits ${exact.map((t) => t.name).join(" and ")}`,
    };
  }
  const r = retention ?? 24 * 3_600_000;
  const nearest = [...tiers].sort((a, b) => Math.abs(a.retention - r) - Math.abs(b.retention - r))[0];
  return {
    tier: nearest,
    guess:
      retention === undefined
        ? "no retention set (Litestream's default is 24h)"
        : `retention ${formatDuration(retention)} matches no tier; nearest is ${nearest.name} (${formatDuration(nearest.retention)})`,
  };
}

/** Turns an existing Litestream config (0.3 `replicas:` or 0.5 `replica:`) into an understudy.yml. */
export function importLitestreamConfig(text: string, file: string, nodeName = "primary"): ImportResult {
  const ctx = new YamlContext(file, text);
  if (ctx.problems.length) throw new ConfigError(ctx.problems);
  const top = MapReader.of(ctx, ctx.root, "");
  if (!top) throw new ConfigError(ctx.problems);
  const warnings: string[] = [];
  const tiers = [...planTiers().values()];
  const entries: { path: string; rep: RawReplica }[] = [];
  const dbs = top.seq("dbs");
  if (!dbs) ctx.report(top.node, "dbs", "is required: a Litestream config lists its databases under dbs:");
  dbs?.items.forEach((item, i) => {
    const d = MapReader.of(ctx, item, `dbs[${i}]`);
    if (!d) return;
    const path = d.str("path", true);
    let reps: MapReader[] = [];
    const list = d.seq("replicas");
    if (list) reps = list.items.map((r, j) => MapReader.of(ctx, r, `dbs[${i}].replicas[${j}]`)).filter((r) => !!r);
    const single = d.map("replica");
    if (single) reps.push(single);
    d.finish([
      "meta-path",
      "monitor-interval",
      "checkpoint-interval",
      "min-checkpoint-page-count",
      "max-checkpoint-page-count",
    ]);
    if (!path) return;
    if (!reps.length) {
      warnings.push(`${path}: no replica configured; imported with the default store`);
      entries.push({ path, rep: { hasLiteralKey: false } });
      return;
    }
    if (reps.length > 1) warnings.push(`${path}: ${reps.length} replicas; only the first is imported`);
    entries.push({ path, rep: readReplica(reps[0]) });
    for (const extra of reps.slice(1)) readReplica(extra);
  });
  top.finish([
    "addr",
    "exec",
    "access-key-id",
    "secret-access-key",
    "logging",
    "snapshot",
    "levels",
    "l0-retention",
    "mcp-addr",
  ]);
  if (ctx.problems.length) throw new ConfigError(ctx.problems);

  const first = entries.find((e) => e.rep.type)?.rep;
  const types = new Set(entries.map((e) => e.rep.type).filter(Boolean));
  if (types.size > 1)
    warnings.push(
      `replicas use several store types (${[...types].join(", ")}); the first, ${first?.type}, is imported`,
    );
  if (entries.some((e) => e.rep.hasLiteralKey))
    warnings.push(
      "the file holds a literal account key; it was NOT copied. Put it in a secret and reference it (env: or file:)",
    );

  const dataDir = commonPrefix(entries.map((e) => `${dirname(e.path)}/`)).replace(/\/$/, "") || "/";
  const prefix = commonPrefix(entries.map((e) => e.rep.path ?? ""));
  const databases: ImportedDb[] = entries.map(({ path, rep }) => {
    const { tier, guess } = inferTier(tiers, rep.retention, rep.syncInterval);
    const name = path.startsWith(`${dataDir}/`) ? path.slice(dataDir.length + 1) : basename(path);
    return {
      name,
      dir: dirname(path),
      tier: tier.name,
      replicaPath: (rep.path ?? name.replace(/\.db$/, "")).slice(prefix.length),
      syncInterval:
        rep.syncInterval !== undefined && rep.syncInterval !== tier.syncInterval ? rep.syncInterval : undefined,
      retention: undefined,
      guess,
    };
  });

  const y: string[] = [
    `# understudy config imported from ${file} by \`understudy import\`.`,
    "# Review the tiers marked GUESSED, add the standby node, then run `understudy validate`.",
    "version: 1",
    "nodes:",
    `  ${nodeName}:`,
    "    role: primary",
    `    data-dir: ${dataDir}`,
    "  # standby:",
    "  #   role: standby",
    "  #   data-dir: /path/to/databases/on/the/standby",
    "store:",
  ];
  if (first?.type === "abs") {
    y.push(
      "  type: abs",
      `  account: ${first.account ?? "ACCOUNT  # not in the Litestream config: set it"}`,
      `  container: ${first.bucket ?? "CONTAINER"}`,
      `  prefix: ${prefix || '""'}`,
      "  # Litestream v0.3.13 signs Azure requests with the account key only.",
      "  account-key: env:LITESTREAM_AZURE_ACCOUNT_KEY",
    );
    if (first.endpoint && !/\.blob\.core\.windows\.net\/?$/.test(first.endpoint))
      y.push(`  endpoint: ${first.endpoint}`);
  } else {
    if (first?.type && first.type !== "file")
      warnings.push(`store type ${first.type} is not supported yet; imported as a local file store`);
    y.push("  type: file", `  path: ${first?.type === "file" ? dirname(first.path ?? "./store") : "./store"}`);
  }
  y.push("tiers:");
  for (const t of tiers) {
    y.push(
      `  ${t.name}: { retention: ${formatDuration(t.retention)}, sync-interval: ${formatDuration(t.syncInterval)}, follow: ${t.follow} }`,
    );
  }
  y.push("databases:");
  for (const d of databases) {
    const parts = [`name: ${d.name}`, `tier: ${d.tier}`];
    if (d.replicaPath !== d.name.replace(/\.(db|sqlite3?)$/i, "")) parts.push(`path: ${d.replicaPath}`);
    if (d.syncInterval !== undefined) parts.push(`sync-interval: ${formatDuration(d.syncInterval)}`);
    y.push(`  - { ${parts.join(", ")} }${d.guess ? `  # GUESSED: ${d.guess}` : ""}`);
  }
  const dirs = new Set(databases.map((d) => d.dir));
  if (dirs.size > 1) warnings.push(`databases live in ${dirs.size} directories; names are relative to ${dataDir}`);
  return { yaml: `${y.join("\n")}\n`, databases, guessed: databases.filter((d) => d.guess), warnings };
}
