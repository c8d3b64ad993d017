import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import type { Logger } from "pino";
import { effective } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { Follower } from "../follower/follower";
import { readPosition } from "../follower/position";
import { restoreDatabase } from "../follower/restore";
import { entryPosition, type PositionsManifest, readManifest } from "../replica/manifest";
import { CountingStore } from "../store/countingStore";
import { openStore } from "../store/open";
import { writeFileAtomic } from "../util/atomic";
import { DirLock } from "../util/dirLock";
import { UserError } from "../util/errors";
import { processAlive } from "../util/process";
import { discoveryProvider } from "./discovery/factory";
import { runHook } from "./hooks";
import { Lease, LeaseChangedError } from "./lease";

export interface PromoteStep {
  step: string;
  ms: number;
  detail: string;
  ok: boolean;
}

export interface PromoteDatabase {
  name: string;
  /** Upload time of the newest segment applied to this copy. */
  appliedUpTo?: string;
  /** The old primary's newest change it last published. */
  primaryChangedAt?: string;
  /** How much newer the old primary's last known change was than what the copy has: the most that was lost. */
  atRiskMs?: number;
  phase: string;
  quickCheck: string;
}

export interface PromoteReport {
  node: string;
  epoch: number;
  previous?: { holder: string; epoch: number };
  steps: PromoteStep[];
  databases: PromoteDatabase[];
  /** Databases whose tier does not follow, restored from the store by the promotion. */
  restored: { name: string; rows: number; upTo?: string }[];
  /** Databases whose tier does not follow that are still not on this node (their restore failed). */
  notFollowed: string[];
}

export interface PromoteOptions {
  log: Logger;
  force?: boolean;
  reason?: string;
  /** How long to wait for the copies to apply everything the store holds. */
  catchUpMs?: number;
  /**
   * A switchover: the primary stopped writing, published its final positions and offers this node the lease;
   * the copies must reach exactly those positions (nothing lost) before the lease is taken, or nothing changes.
   */
  handoff?: boolean;
}

/**
 * Failover: the primary is lost and this standby takes over. Refuses while another node holds a live lease
 * (`force` overrides, with a reason that is logged). Then: stops the follow daemon if it runs, applies
 * everything the store holds (probing each replica to its end, not trusting a manifest the dead primary may
 * not have finished), reports per database how much may have been lost, takes the lease with the next epoch
 * (fencing the old primary for good), turns every copy into an ordinary WAL-mode database, points the
 * discovery names here and runs the promote hook. `understudy replicate` on this node then uploads as the new
 * epoch. Every step is timed.
 */
export async function promote(cfg: UnderstudyConfig, node: NodeConfig, o: PromoteOptions): Promise<PromoteReport> {
  const steps: PromoteStep[] = [];
  const step = async <T>(name: string, fn: () => Promise<[T, string]>, fatal = true): Promise<T | undefined> => {
    const t0 = Date.now();
    try {
      const [v, detail] = await fn();
      steps.push({ step: name, ms: Date.now() - t0, detail, ok: true });
      o.log.info({ step: name, ms: Date.now() - t0 }, detail);
      return v;
    } catch (e) {
      steps.push({ step: name, ms: Date.now() - t0, detail: (e as Error).message, ok: false });
      o.log.error({ step: name }, (e as Error).message);
      if (fatal) throw e;
      return undefined;
    }
  };
  const store = new CountingStore(await openStore(cfg.store));
  const lease = new Lease(store, cfg.store.prefix, node.name, {
    ttlMs: cfg.failover.leaseTtl,
    maxSkewMs: cfg.failover.maxClockSkew,
  });

  let seenEtag = "";
  const previous = await step("check the lease", async () => {
    const { record, etag } = await lease.read();
    seenEtag = etag ?? "";
    if (o.handoff) {
      if (record?.handoffTo !== node.name)
        throw new UserError(
          `${record ? `${record.holder} (epoch ${record.epoch})` : "nobody"} does not offer the lease to ${node.name}: no switchover to it is under way`,
        );
      return [record, `${record.holder} stopped writing at epoch ${record.epoch} and offers the lease`];
    }
    if (record?.holder === node.name && lease.live(record))
      throw new UserError(`${node.name} already holds the lease (epoch ${record.epoch}): it is the primary`);
    if (record && lease.live(record) && !o.force)
      throw new UserError(
        `${record.holder} holds the lease (epoch ${record.epoch}) until ${record.expiresAt}: it may still be writing. If it is really gone, wait for the lease to expire, or pass --force --reason TEXT`,
      );
    if (record && lease.live(record)) o.log.warn({ holder: record.holder, reason: o.reason }, "forcing the lease");
    return [
      record,
      record
        ? `${record.holder} held epoch ${record.epoch}, ${lease.live(record) ? `live until ${record.expiresAt}: taken by force (${o.reason})` : "expired"}`
        : "no lease yet",
    ];
  });

  await step("stop the follow daemon", async () => {
    const pid = DirLock.holder(node.dataDir, "follow");
    if (pid === undefined) return [undefined, "not running"];
    process.kill(pid, "SIGTERM");
    for (const end = Date.now() + 30_000; processAlive(pid); ) {
      if (Date.now() > end) throw new Error(`understudy follow (pid ${pid}) did not stop in 30s`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return [undefined, `stopped understudy follow (pid ${pid}); unload its service so it is not started again`];
  });

  const manifest = await readManifest(store, cfg.store.prefix).catch(() => undefined);
  const followed = cfg.databases.filter((d) => effective(cfg, d).follow);
  const follower = o.handoff
    ? await step("apply the final positions", async () => {
        if (!manifest?.final || manifest.epoch !== previous?.epoch)
          throw new Error(
            `the positions in the store are not ${previous?.holder}'s final ones of epoch ${previous?.epoch}: not taking the lease`,
          );
        return [await applyExactly(cfg, node, store, manifest, o), "every copy at the primary's final position"];
      })
    : await step("apply what the store holds", async () => {
        // Probing, whatever the manifest says: a primary that died may have uploaded segments it never announced.
        const f = new Follower(cfg, node, store, { log: o.log, pollMs: 200, probeMs: 200, staleManifestMs: 0 });
        f.start();
        let last = -1;
        let quiet = 0;
        const end = Date.now() + (o.catchUpMs ?? 120_000);
        try {
          while (Date.now() < end) {
            await new Promise((r) => setTimeout(r, 250));
            const s = f.state.databases;
            const applied = s.reduce((a, d) => a + d.segmentsApplied, 0);
            const settled = s.every((d) => d.phase !== "bootstrapping");
            quiet = settled && applied === last ? quiet + 1 : 0;
            last = applied;
            if (quiet >= 6) break;
          }
        } finally {
          await f.stop();
        }
        const stalled = f.state.databases.filter((d) => d.phase !== "following");
        return [
          f,
          `${f.state.databases.length - stalled.length}/${f.state.databases.length} copies at the end of their replica${stalled.length ? `; NOT: ${stalled.map((d) => `${d.name} (${d.phase}${d.lastError ? `: ${d.lastError.message}` : ""})`).join("; ")}` : ""}`,
        ];
      });

  const databases: PromoteDatabase[] = (follower?.state.databases ?? []).map((d) => {
    const db = followed.find((x) => x.name === d.name);
    const m = db && manifest?.databases[db.replicaPath];
    const position = readPosition(join(node.stateDir, "follow", `${d.name}.position.json`));
    const appliedUpTo = position?.sourceUploadedAt;
    const risk = m?.changedAt && appliedUpTo ? Date.parse(m.changedAt) - Date.parse(appliedUpTo) : undefined;
    return {
      name: d.name,
      appliedUpTo,
      primaryChangedAt: m?.changedAt,
      atRiskMs: risk !== undefined ? Math.max(0, risk) : undefined,
      phase: d.phase,
      quickCheck: "",
    };
  });

  const taken = await step("take the lease", async () => {
    // On the lease as checked (a handoff: as offered to this node alone): of concurrent promotions one wins.
    const r = await lease
      .acquire(o.handoff ? { handoff: true } : { force: true, expect: seenEtag })
      .catch((e: Error) => {
        throw e instanceof LeaseChangedError
          ? new UserError(
              `${e.message}; ${node.name} did not take it and changed nothing: it stays a standby (start its follow or run daemon again)`,
            )
          : e;
      });
    writeFileAtomic(join(node.stateDir, "lease-epoch"), `${r.epoch}\n`);
    return [
      r,
      `${node.name} holds the lease at epoch ${r.epoch}; ${previous ? `${previous.holder} is fenced` : "first holder"}`,
    ];
  });
  if (!taken) throw new Error("the lease was not taken");

  await step("turn the copies into WAL databases", async () => {
    const bad: string[] = [];
    for (const d of databases) {
      const path = join(node.dataDir, d.name);
      if (!existsSync(path)) {
        d.quickCheck = "missing";
        bad.push(`${d.name}: no copy`);
        continue;
      }
      // Opening read-write rolls back any journal; WAL is what the applications and Litestream expect.
      const db = new Database(path, { timeout: 10_000 });
      try {
        db.pragma("journal_mode = WAL");
        d.quickCheck = String(db.pragma("quick_check", { simple: true }));
        if (d.quickCheck !== "ok") bad.push(`${d.name}: ${d.quickCheck}`);
      } finally {
        db.close();
      }
    }
    // The positions describe copies of the old epoch; kept for the record, out of the follower's way.
    const dir = join(node.stateDir, "follow");
    if (existsSync(dir)) renameSync(dir, join(node.stateDir, `follow.before-epoch-${taken.epoch}`));
    if (bad.length) throw new Error(`quick_check failed: ${bad.join("; ")}`);
    return [undefined, `${databases.length} databases in WAL mode, quick_check ok`];
  });

  // The tiers the standby does not follow are in the store: restored before the applications start, or they
  // would open empty files in their place (and this node would replicate those as the databases).
  const restored: PromoteReport["restored"] = [];
  const notFollowed = cfg.databases.filter((d) => !effective(cfg, d).follow);
  if (notFollowed.length)
    await step(
      "restore the databases that are not followed",
      async () => {
        const failed: string[] = [];
        for (const db of notFollowed) {
          const path = join(node.dataDir, db.name);
          if (existsSync(path)) continue;
          try {
            mkdirSync(dirname(path), { recursive: true });
            const r = await restoreDatabase(cfg, db, path);
            const conn = new Database(path, { timeout: 10_000 });
            try {
              conn.pragma("journal_mode = WAL");
            } finally {
              conn.close();
            }
            restored.push({ name: db.name, rows: r.rows, upTo: r.upTo });
          } catch (e) {
            failed.push(`${db.name}: ${(e as Error).message.split("\n")[0]}`);
          }
        }
        if (failed.length) throw new Error(`not restored: ${failed.join("; ")}`);
        return [undefined, `${restored.length} restored from the store (their tier does not follow)`];
      },
      false,
    );

  const address = node.tailscaleAddress ?? node.address;
  if (cfg.discovery.names.length && address)
    await step(
      "point the names here",
      async () => {
        const p = discoveryProvider(cfg, cfg.discovery.provider);
        const said: string[] = [];
        for (const name of cfg.discovery.names) said.push(await p.point(name, address));
        return [undefined, said.join("; ")];
      },
      false,
    );

  const hook = cfg.failover.hooks.promote;
  if (hook)
    await step(
      "promote hook",
      async () => {
        const r = await runHook(
          "promote",
          hook,
          cfg.failover.hookTimeout,
          { UNDERSTUDY_NODE: node.name, UNDERSTUDY_EPOCH: String(taken.epoch) },
          o.log,
        );
        if (!r.ok) throw new Error(`promote hook failed (${r.code ?? "killed"}): ${r.output}`);
        return [undefined, "ran"];
      },
      false,
    );

  return {
    node: node.name,
    epoch: taken.epoch,
    previous: previous ? { holder: previous.holder, epoch: previous.epoch } : undefined,
    steps,
    databases,
    restored,
    notFollowed: notFollowed.map((d) => d.name).filter((n) => !existsSync(join(node.dataDir, n))),
  };
}

/** Follows by the final manifest until every copy stands exactly at its position; an error when one does not. */
async function applyExactly(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  store: CountingStore,
  final: PositionsManifest,
  o: PromoteOptions,
): Promise<Follower> {
  const f = new Follower(cfg, node, store, { log: o.log, pollMs: 200, probeMs: 200 });
  const want = (name: string) => {
    const db = cfg.databases.find((d) => d.name === name);
    const e = db && final.databases[db.replicaPath];
    return e && entryPosition(e);
  };
  f.start();
  const end = Date.now() + (o.catchUpMs ?? 120_000);
  try {
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const behind = f.state.databases.filter((d) => want(d.name) !== undefined && d.position !== want(d.name));
      if (!behind.length) return f;
      if (Date.now() > end)
        throw new Error(
          `not at the final positions after ${Math.round((o.catchUpMs ?? 120_000) / 1000)}s: ${behind
            .slice(0, 5)
            .map(
              (d) =>
                `${d.name} at ${d.position ?? "nothing"} of ${want(d.name)} (${d.phase}${d.lastError ? `: ${d.lastError.message}` : ""})`,
            )
            .join("; ")}`,
        );
    }
  } finally {
    await f.stop();
  }
}
