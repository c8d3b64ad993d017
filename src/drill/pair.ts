import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import Database from "better-sqlite3";
import { effective } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { Lease } from "../failover/lease";
import { readRejoinReport } from "../failover/rejoin";
import { switchover } from "../failover/switchover";
import { digestDatabase, ROWID_TABLES_SQL } from "../fleet/rowHash";
import { buildFromReplica } from "../follower/build";
import { buildFromLtx } from "../follower/buildLtx";
import { readPosition } from "../follower/position";
import { alertSince, readHeartbeatRecord, targetOf } from "../heartbeat/record";
import { litestreamBinary, litestreamVersion } from "../litestream/binary";
import { checkPrimary, primaryHealthUrl, standbyNotReady } from "../node/primaryCheck";
import { hex16, parseTxid, positionTxid } from "../replica/ltxLayout";
import { entryAfter, type PositionsManifest, readManifest } from "../replica/manifest";
import { readReplicateState } from "../replicate/state";
import { resolveSecret } from "../secrets/resolve";
import { openStore, replicaPrefix } from "../store/open";
import { UserError } from "../util/errors";
import { httpStatus } from "../util/net";
import type { DrillMeasurements } from "./criteria";
import { cli, openTasks, sleep, testPrompt, until } from "./measure";

/**
 * An operator's action: a shell command (config `drill:`), or what `drill --local` does to its own nodes, with the
 * words the timeline gives it.
 */
export type DrillAction = string | { say: string; run: () => void | Promise<void> };

export interface PairDrillOptions {
  /** Takes the primary down, brings it back, runs rejoin there; each unset one is asked of the operator. */
  trigger?: DrillAction;
  recover?: DrillAction;
  rejoin?: DrillAction;
  /** The heartbeat watcher's record: its state file or its /state URL. */
  heartbeatRecord?: string;
  stepTimeoutMs: number;
  /** With failover.mode manual: promote as soon as Slack has the alert, as an operator at the keyboard would. */
  promote: boolean;
  progress: (line: string) => void;
  /** The environment of the commands and of the CLI the drill runs (promote). */
  env?: NodeJS.ProcessEnv;
  /** Asked once the primary is known, before anything is done: false stops the drill (UserError, nothing done). */
  confirm?: (primary: string) => Promise<boolean>;
  /** Measurements begun by the caller (`drill --local`'s setup steps), and the time its timeline starts. */
  measurements?: DrillMeasurements;
  t0?: number;
}

/** Rows per application table, and the highest rowid: enough to see an application add a row. */
function fingerprint(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    const tables = db.prepare(`${ROWID_TABLES_SQL} ORDER BY name`).pluck().all();
    return (tables as string[])
      .map((t) => {
        const q = `"${t.replace(/"/g, '""')}"`;
        const r = db.prepare(`SELECT count(*) AS n, max(rowid) AS m FROM ${q}`).get() as { n: number; m: number };
        return `${t}:${r.n}:${r.m}`;
      })
      .join(",");
  } finally {
    db.close();
  }
}

/**
 * `understudy drill run`: the plan's §8 drill on the real pair, run on the standby. It records the baseline, takes
 * the primary down (drill.trigger, or the operator pulls the plug while it watches /primary), reads when Slack
 * accepted the alert from the heartbeat watcher's record, waits for the failover (automatic, or promote), and
 * measures on this node: the P0 copies at the old primary's last uploaded position, a write by the applications
 * here reaching the store (RTO), the test prompt through the inference proxy. Then the old primary comes back
 * (drill.recover or the operator), rejoins (drill.rejoin or the operator) — its rejoin report in the store gives
 * the rows it had not uploaded (RPO) — and the drill fails back with a switchover, checking that everything this
 * node had at the handover is in the final positions the old primary applied. Nothing is asked: what cannot be
 * seen is reported as not measured, with why.
 */
export async function runPairDrill(
  cfg: UnderstudyConfig,
  node: NodeConfig,
  o: PairDrillOptions,
): Promise<DrillMeasurements> {
  const store = await openStore(cfg.store);
  const prefix = cfg.store.prefix;
  const lease = new Lease(store, prefix, node.name, {
    ttlMs: cfg.failover.leaseTtl,
    maxSkewMs: cfg.failover.maxClockSkew,
  });
  const held = (await lease.read()).record;
  if (!held || !lease.live(held))
    throw new UserError("no node holds a live lease: there is no running primary to take down");
  if (held.holder === node.name)
    throw new UserError(
      `${node.name} holds the lease (epoch ${held.epoch}): run the drill on the standby, which survives it`,
    );
  const primary = cfg.nodes.find((n) => n.name === held.holder);
  if (!primary) throw new UserError(`${held.holder} holds the lease but is not a node of ${cfg.file}`);
  if (o.confirm && !(await o.confirm(primary.name))) throw new UserError("not confirmed; nothing was done");
  const purl = primaryHealthUrl(cfg, primary);
  const surl = primaryHealthUrl(cfg, node);
  if (!purl || !surl)
    throw new UserError(
      `${purl ? node.name : primary.name} has no health-url or address in ${cfg.file}: the drill watches both`,
    );
  const P = primary.name.toUpperCase();
  const S = node.name.toUpperCase();
  const env = o.env ?? process.env;
  const m: DrillMeasurements = o.measurements ?? {
    startedAt: new Date().toISOString(),
    kind: "pair",
    names: { primary: primary.name, standby: node.name },
    fast: false,
    mode: cfg.failover.mode,
    timings: {
      "lease-ttl": `${cfg.failover.leaseTtl / 1000}s`,
      "failed-checks": cfg.failover.failedChecks,
      "check-interval": `${cfg.failover.checkInterval / 1000}s`,
      heartbeat: `${cfg.heartbeat.interval / 1000}s`,
      "alert-after": cfg.heartbeat.alertAfter,
    },
    steps: [],
    findings: [],
  };
  m.names ??= { primary: primary.name, standby: node.name };
  const t0 = o.t0 ?? Date.now();
  const step = (what: string) => {
    m.steps.push({ atMs: Date.now() - t0, what });
    o.progress(`${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s  ${what}`);
  };
  const wait = <T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>) =>
    until(what, fn, o.stepTimeoutMs);
  const commands: ChildProcess[] = [];
  /** Starts an operator action; it may never return (a shutdown over ssh), so it is not waited for. */
  const run = (what: string, cmd: DrillAction) => {
    if (typeof cmd !== "string") {
      step(cmd.say);
      Promise.resolve()
        .then(cmd.run)
        .catch((e: Error) => m.findings.push(`${cmd.say}: ${e.message}`));
      return;
    }
    step(`${what}: running \`${cmd}\``);
    const c = spawn("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "pipe"], env });
    let err = "";
    c.stderr?.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-500);
    });
    c.on("exit", (code) => {
      if (code) m.findings.push(`${what} command exited ${code}${err.trim() ? `: ${err.trim()}` : ""}`);
    });
    commands.push(c);
  };
  const followed = cfg.databases.filter((d) => effective(cfg, d).follow);
  const p0 = cfg.databases.filter((d) => d.tier.startsWith("P0"));
  const mcPath = join(node.dataDir, "mission-control.db");
  try {
    const binary = litestreamBinary(cfg.litestream);
    m.litestream = `${binary} (${await litestreamVersion(binary).catch((e: Error) => e.message)})`;
  } catch (e) {
    m.litestream = (e as Error).message;
  }

  try {
    // §8.2 step 1: the baseline, as this node sees it.
    const lag = await standbyNotReady(surl, cfg.health.readyLag);
    if (lag) m.findings.push(`${S} was not a ready standby at the baseline: ${lag}`);
    m.baselineOpenTasks = openTasks(mcPath);
    const baseline = await readManifest(store, prefix);
    step(
      `baseline: ${P} holds the lease (epoch ${held.epoch}); ${S} ${lag ? `is NOT ready: ${lag}` : `follows ${followed.length} databases within ${cfg.health.readyLag / 1000}s`}${m.baselineOpenTasks !== undefined ? `; ${m.baselineOpenTasks} open tasks in ${S}'s copy of mission-control.db` : ""}; ${P}'s positions published ${baseline?.publishedAt ?? "never"}`,
    );
    const record = o.heartbeatRecord;
    if (!record) {
      m.alertUnmeasured = "no drill.heartbeat-record to read when Slack accepted the alert";
      m.findings.push(
        `the alert latency was not measured: set drill.heartbeat-record to the watcher's --state file or its /state URL`,
      );
    } else {
      const seen = await readHeartbeatRecord(record)
        .then((s) => targetOf(s, purl))
        .catch((e: Error) => {
          m.findings.push(`the heartbeat record ${record} cannot be read: ${e.message}`);
          return undefined;
        });
      if (seen?.status === "up") step(`the heartbeat watcher sees ${P} up (${seen.url})`);
      else if (seen)
        m.findings.push(
          `the heartbeat watcher did not see ${P} up before the failure (${seen.status}): its alert latency is not comparable`,
        );
      else m.findings.push(`the heartbeat watcher's record has no target checking ${purl}`);
    }

    // Step 2: the failure. Its time is the command's start, or (the operator's hand) the first failed check.
    let began: number | undefined;
    if (o.trigger) {
      began = Date.now();
      run("FAILURE", o.trigger);
    } else
      step(
        `FAILURE: take ${P} down now (pull the plug, or shut it down); the drill waits for /primary to stop answering`,
      );
    const downAt = await wait(`${P}'s /primary to stop answering`, async () => {
      const at = Date.now();
      return (await checkPrimary(purl, 2000)) ? at : undefined;
    });
    const killedAt = began ?? downAt;
    step(
      `${P} is down: ${purl}/primary stopped answering${began ? ` ${((downAt - began) / 1000).toFixed(1)}s after the failure began` : ""}`,
    );
    // What the old primary last got into the store, per database: how old its newest upload was at the failure.
    const atFailure = await readManifest(store, prefix);

    // Step 3: the alert, from the watcher's record.
    const alert = record
      ? wait("Slack to accept the heartbeat's alert", async () => {
          const s = await readHeartbeatRecord(record).catch(() => undefined);
          return s && alertSince(s, purl, killedAt);
        })
          .then((a) => {
            if ("notSent" in a) {
              m.findings.push(`no Slack alert: ${a.notSent}`);
              step(`NO Slack alert: ${a.notSent}`);
              return;
            }
            m.alertMs = a.sentAt - killedAt;
            step(`Slack accepted the alert ${(m.alertMs / 1000).toFixed(1)}s after the failure (the watcher's record)`);
          })
          .catch(() => {
            m.findings.push(`no Slack alert in the watcher's record within ${o.stepTimeoutMs / 60_000} min`);
            step("NO Slack alert in the watcher's record");
          })
      : Promise.resolve();

    // Step 4: the failover.
    if (cfg.failover.mode === "manual") {
      if (o.promote) {
        await alert;
        step(`the operator runs understudy promote on ${S}`);
        for (;;) {
          const r = await cli(["promote", "--config", cfg.file, "--node", node.name, "--json"], env);
          if (r.code === 0) break;
          if (r.code !== 2) throw new Error(`promote failed: ${r.stderr.trim().split("\n").pop()}`);
          await sleep(1000);
        }
      } else step(`failover.mode is manual: run \`understudy promote --node ${node.name}\` here when you are ready`);
    }
    // Its own /primary: the lease here and Litestream up, whichever daemon (run, or promote then replicate) did it.
    await wait(`${S} to hold the lease and replicate`, async () => {
      const r = (await lease.read().catch(() => undefined))?.record;
      return r?.holder === node.name && r.epoch > held.epoch && !(await checkPrimary(surl));
    });
    const promotedAt = Date.now();
    m.promotedMs = promotedAt - killedAt;
    const epoch = (await lease.read()).record?.epoch as number;
    step(
      `${S} holds the lease at epoch ${epoch} and replicates (${(m.promotedMs / 1000).toFixed(1)}s after the failure)`,
    );

    // The applications start here (the promote hook): the first row one of them adds, once it is in the store.
    const before = new Map(followed.map((d) => [d.name, fingerprint(join(node.dataDir, d.name))]));
    const served = wait("an application to add a row on this node", async () => {
      for (const d of followed)
        if (fingerprint(join(node.dataDir, d.name)) !== before.get(d.name)) return { d, at: Date.now() };
      await sleep(1000);
      return undefined;
    })
      .catch(() => {
        throw new Error(
          `no application added a row on ${S} after the promotion: does failover.hooks.promote start them?`,
        );
      })
      .then(async ({ d, at }) => {
        // In the store: an upload of this epoch after the row was seen, beyond where the replica stood then.
        const pos = (await readManifest(store, prefix).catch(() => undefined))?.databases[d.replicaPath];
        await until(
          `the row added to ${d.name} to reach the store`,
          async () => {
            const x = await readManifest(store, prefix).catch(() => undefined);
            const e = x?.node === node.name && x.epoch === epoch ? x.databases[d.replicaPath] : undefined;
            return e && Date.parse(e.uploadedAt) >= at && entryAfter(e, pos);
          },
          120_000,
        );
        m.rtoMs = Date.now() - killedAt;
        step(`${S} serves writes: a row added to ${d.name} here is in the store (RTO ${(m.rtoMs / 1000).toFixed(1)}s)`);
      })
      .catch((e: Error) => {
        m.findings.push(e.message);
        step(`NOT serving writes: ${e.message}`);
      });

    // P0 on this node: present, intact, at exactly the old primary's last uploaded position.
    m.p0 = [];
    m.p0Expected = p0.length;
    m.p0Basis = `at ${P}'s last uploaded position`;
    const positions = join(node.stateDir, `follow.before-epoch-${epoch}`);
    const scratch = join(node.stateDir, `drill-p0-${Date.now()}`);
    mkdirSync(scratch, { recursive: true });
    const oldGen = atFailure?.epochs?.find((e) => e.epoch === held.epoch);
    for (const d of p0) {
      let ok = false;
      let detail = "";
      try {
        const path = join(node.dataDir, d.name);
        const mine = readPosition(join(positions, `${d.name}.position.json`));
        if (!existsSync(path)) detail = "missing";
        else if (!effective(cfg, d).follow) detail = "its tier is not followed";
        else if (!mine) detail = `no record of the position ${S} reached (${positions})`;
        else if (mine.txid !== undefined) {
          // 0.5: one history; the old primary's part of it ends at the TXID this copy stood at when promoted (the
          // promotion applied everything the store had). Rebuilt there from the store, it must pass and be whole.
          const built = await buildFromLtx(store, replicaPrefix(cfg.store, d.replicaPath), join(scratch, d.name), {
            upTo: parseTxid(mine.txid),
          });
          const published = atFailure?.databases[d.replicaPath]?.txid;
          const integrity = digestDatabase(path).integrity;
          ok =
            integrity === "ok" &&
            hex16(built.txid) === mine.txid &&
            (!published || parseTxid(mine.txid) >= parseTxid(published));
          detail =
            integrity !== "ok"
              ? `integrity: ${integrity}`
              : ok
                ? `at txid ${mine.txid}`
                : `at txid ${mine.txid}, but ${P}'s replica ${hex16(built.txid) !== mine.txid ? `rebuilds only to ${hex16(built.txid)}` : `was published at ${published}`}`;
        } else {
          const built = await buildFromReplica(store, replicaPrefix(cfg.store, d.replicaPath), join(scratch, d.name), {
            generation:
              oldGen?.generations[d.replicaPath]?.slice(-1)[0] ?? atFailure?.databases[d.replicaPath]?.generation,
          });
          const integrity = digestDatabase(path).integrity;
          const at = (p: { generation: string; index: number; offset: number }) =>
            `${p.generation}/${p.index}:${p.offset}`;
          ok = integrity === "ok" && at(mine) === at(built.position);
          detail =
            integrity !== "ok"
              ? `integrity: ${integrity}`
              : ok
                ? `at ${at(mine)}`
                : `at ${at(mine)}, but ${P}'s replica ends at ${at(built.position)}`;
        }
      } catch (e) {
        detail = (e as Error).message;
      }
      m.p0.push({ name: d.name, ok, detail });
    }
    // The open tasks FORGE took over with: its copy at the old primary's last upload, before its applications wrote.
    m.survivorOpenTasks = openTasks(join(scratch, "mission-control.db"));
    rmSync(scratch, { recursive: true, force: true });
    step(`P0 on ${S}: ${m.p0.filter((x) => x.ok).length}/${p0.length} present, intact and at ${P}'s last upload`);

    // Inference through this node's proxy.
    const inf = cfg.inference;
    if (inf) {
      const host =
        inf.hosts.find((h) => h.name.toLowerCase() === primary.name.toLowerCase()) ??
        inf.hosts.find((h) => [primary.address, primary.tailscaleAddress].some((a) => a && h.url.includes(a)));
      const rule = host && inf.rules.find((r) => r.down === host.name);
      const model = (rule?.to.kind === "host" && Object.keys(rule.to.models)[0]) || "llama3.1:8b";
      const token = inf.proxy.token ? await resolveSecret(inf.proxy.token, "inference.proxy.token") : undefined;
      const proxy = `http://${inf.proxy.listen.replace(/^0\.0\.0\.0:/, "127.0.0.1:")}`;
      const answer = await wait("the test prompt to be answered through the inference proxy", () =>
        testPrompt(proxy, { model, tier: host?.tiers[0], token }),
      ).catch(() => undefined);
      m.inference = answer && {
        ok: !!host && !answer.target.startsWith(host.name),
        target: answer.target,
      };
      step(
        answer
          ? `inference: the ${host ? `tier-${host.tiers[0]} ` : ""}test prompt (${model}) was answered by ${answer.target}`
          : "inference: NO answer to the test prompt",
      );
    } else m.findings.push("no inference section in the config: the inference criterion was not measured");
    await served;
    await alert;

    // Step 7: the old primary comes back, rejoins; what it had not uploaded is the RPO.
    if (o.recover) run(`${P} back`, o.recover);
    else step(`bring ${P} back now (power it on); the drill waits for its health endpoint`);
    await wait(`${P}'s health endpoint`, async () => (await httpStatus(`${purl}/health`)) !== 0);
    step(`${P} answers again`);
    const rejoinFrom = Date.now();
    if (o.rejoin) run(`${P} rejoins`, o.rejoin);
    else step(`run \`understudy rejoin --node ${primary.name}\` on ${P}; the drill waits for its report in the store`);
    const rj = await wait(`${P}'s rejoin report in the store`, async () => {
      const r = await readRejoinReport(store, prefix, primary.name).catch(() => undefined);
      return r && Date.parse(r.at) >= killedAt && r;
    });
    const lostBy = rj.databases
      .map((d) => ({ d, rows: Object.values(d.unreplicated).reduce((a, b) => a + b, 0) }))
      .filter((x) => x.rows);
    // The rows the old primary had not uploaded are both what the survivor lacks (RPO) and what was kept aside.
    m.keptAside = {
      dir: `${primary.name}:${rj.setAside}`,
      rows: lostBy.reduce((a, x) => a + x.rows, 0),
      databases: lostBy.map((x) => x.d.name),
    };
    let rpo = 0;
    const unknown: string[] = [];
    for (const { d } of lostBy) {
      const path = cfg.databases.find((x) => x.name === d.name)?.replicaPath ?? d.name;
      const last = d.lastUploadAt ?? atFailure?.databases[path]?.uploadedAt;
      if (last) rpo = Math.max(rpo, killedAt - Date.parse(last));
      else unknown.push(d.name);
    }
    // A database that lost rows and was never uploaded has no window to measure: the RPO is then unknown, not 0.
    if (unknown.length) m.findings.push(`${P} lost rows in databases it had never uploaded: ${unknown.join(", ")}`);
    else m.rpoMs = rpo;
    const compareErrors = rj.databases.filter((d) => d.compareError);
    if (compareErrors.length)
      m.findings.push(
        `${P}'s rejoin could not compare ${compareErrors.length} databases with the store (${compareErrors.map((d) => `${d.name}: ${d.compareError}`).join("; ")}): their lost rows are not counted`,
      );
    step(
      `${P} rejoined: ${m.keptAside.rows} rows it had not uploaded, in ${lostBy.length} databases, kept aside in ${rj.setAside} (RPO at most ${m.rpoMs === undefined ? "unknown" : `${(m.rpoMs / 1000).toFixed(1)}s`})`,
    );
    await wait(`${P} to follow ${S}`, async () => !(await standbyNotReady(purl, cfg.health.readyLag)));
    m.rejoinMs = Date.now() - (o.rejoin ? rejoinFrom : Date.parse(rj.at));
    step(`${P} follows ${S} (${(m.rejoinMs / 1000).toFixed(1)}s after rejoin began)`);

    // The failback: a switchover back; everything this node had at the handover must be in what the old primary
    // applied exactly (the final positions; its promotion refuses anything else).
    const sw = await switchover(cfg, primary.name, {
      reason: "DR drill failback",
      candidateReady: () => standbyNotReady(purl, cfg.health.readyLag),
      onProgress: (p) => step(`failback: ${p.what}`),
    });
    m.failbackMs = sw.ms;
    // This node handed over, set its databases aside (what it had at the handover) and follows the new epoch.
    const setAside = () =>
      readdirSync(dirname(node.dataDir))
        .filter((x) => x.startsWith(`${basename(node.dataDir)}.set-aside-epoch${sw.epoch}-`))
        .sort()
        .pop();
    await wait(`${S} to set its databases aside and follow ${P} again`, async () =>
      setAside() && !(await standbyNotReady(surl, cfg.health.readyLag)) ? true : undefined,
    );
    const final = (await readManifest(store, prefix)) as PositionsManifest;
    const mine = final.epochs?.find((e) => e.epoch === epoch);
    const aside = setAside();
    if (!aside) throw new Error(`${S}'s databases were not set aside at the failback`);
    const check = join(node.stateDir, `drill-failback-${Date.now()}`);
    mkdirSync(check, { recursive: true });
    m.failbackBasis = `with what ${S} had at the handover, in the final positions ${P} applied`;
    m.failback = [];
    const finalPositions = new Map(
      (readReplicateState(node.stateDir)?.databases ?? []).map((x) => [x.name, x.position]),
    );
    for (const d of followed) {
      const had = join(dirname(node.dataDir), aside, d.name);
      if (!existsSync(had)) continue;
      const was = digestDatabase(had);
      let now: ReturnType<typeof digestDatabase> | undefined;
      try {
        // 0.5: this node's part of the one history ends at the TXID it last uploaded (its replicate state).
        const last = positionTxid(finalPositions.get(d.name));
        if (last !== undefined)
          await buildFromLtx(store, replicaPrefix(cfg.store, d.replicaPath), join(check, d.name), { upTo: last });
        else
          await buildFromReplica(store, replicaPrefix(cfg.store, d.replicaPath), join(check, d.name), {
            generation: mine?.generations[d.replicaPath]?.slice(-1)[0],
          });
        now = digestDatabase(join(check, d.name));
      } catch (e) {
        m.findings.push(`${d.name}: ${S}'s final positions cannot be rebuilt: ${(e as Error).message}`);
      }
      m.failback.push({
        name: d.name,
        rows: now?.rows ?? 0,
        expected: was.rows,
        equal: !!now && now.hash === was.hash && now.integrity === "ok",
      });
    }
    rmSync(check, { recursive: true, force: true });
    step(
      `failback: switchover to ${P} in ${(sw.ms / 1000).toFixed(1)}s; ${m.failback.filter((x) => x.equal).length}/${m.failback.length} databases ${S} had at the handover are in the final positions ${P} applied, row for row`,
    );
    const end = (await lease.read()).record;
    m.finalLease = end && { holder: end.holder, epoch: end.epoch };
    m.epochs = (final.epochs ?? []).map((e) => ({ epoch: e.epoch, node: e.node }));
  } catch (e) {
    m.error = (e as Error).message;
    step(`DRILL STOPPED: ${m.error}`);
  } finally {
    for (const c of commands) if (c.exitCode === null) c.kill("SIGTERM");
  }
  return m;
}
