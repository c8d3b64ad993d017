import { existsSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { basename, dirname, join } from "node:path";
import type { Logger } from "pino";
import { UserError } from "../config/errors";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { LeaseHolder } from "../failover/holder";
import { runHook } from "../failover/hooks";
import { Lease } from "../failover/lease";
import { findLitestream } from "../litestream/binary";
import { formatProblem, storeFormats } from "../litestream/format";
import { litestreamSocketPath, renderLitestreamConfig } from "../litestream/render";
import { LitestreamSupervisor } from "../litestream/supervisor";
import { type EpochRecord, ManifestSupersededError, type PositionsManifest, writeManifest } from "../replica/manifest";
import { openStore, replicaPrefix, storeBackend } from "../store/open";
import type { ReplicaStore } from "../store/store";
import { writeFileAtomic } from "../util/atomic";
import { DirLock } from "../util/dirLock";
import { closeHttp, listenHttp, safeHandler, splitHostPort } from "../util/net";
import { withTimeout } from "../util/timeout";
import { GapWatch } from "./gapWatch";
import { Line03, Line05, type LitestreamLine } from "./line";
import { renderReplicateMetrics } from "./metrics";
import { type DbReplicationState, type ReplicateState, writeReplicateState } from "./state";

export const MANIFEST_HEARTBEAT_MS = 30_000;

/** The variables Litestream may need from the parent: paths, locale, time zone, and an HTTP proxy if one is set. */
const LITESTREAM_ENV = [
  "PATH",
  "HOME",
  "TMPDIR",
  "TZ",
  "LANG",
  "LC_ALL",
  "USER",
  "LOGNAME",
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "NO_PROXY",
  "https_proxy",
  "http_proxy",
  "no_proxy",
];
/**
 * The longest `stop()` takes, whatever the store does: under the 30 s the rendered launchd and systemd units
 * allow, so a service manager's stop never hangs on the network and never kills us first. Most of it is
 * Litestream's: its last upload on SIGTERM is what makes a stop lose nothing (on a loaded machine with many
 * databases it takes seconds; a store that does not answer gets it killed at 20 s).
 */
export const STOP_DEADLINE_MS = 25_000;
/** How long a switchover waits for Litestream's last upload: a planned handover is in no hurry. */
const HANDOFF_STOP_MS = 60_000;

export interface ReplicatorOptions {
  log: Logger;
  /** HOST:PORT for our /metrics, or "" to serve none. */
  metricsListen?: string;
  /** How often database files are checked for presence and state is flushed. */
  tickMs?: number;
}

/** The primary's replicate role: renders Litestream's config, supervises it, and keeps per-database state. */
export class Replicator {
  private supervisor?: LitestreamSupervisor;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  private dirty = true;
  private store?: ReplicaStore;
  private published = "";
  private lastPublishAt = 0;
  /** The publish in flight, if any: a forced publish waits for it, then publishes what is newer. */
  private publishing?: Promise<boolean>;
  private manifestEtag?: string;
  private epochs?: EpochRecord[];
  /** Set once Litestream has stopped for a switchover: the next manifest is the last, marked final. */
  private final = false;
  private gapTimer?: NodeJS.Timeout;
  private dirLock?: DirLock;
  private holder?: LeaseHolder;
  private gapChecking = false;
  private stopping = false;
  private handingOff = false;
  readonly gaps: GapWatch;
  /** How this Litestream line reports and proves its uploads (set at start, by the binary found). */
  private line: LitestreamLine = new Line03(new Map());
  readonly dbs = new Map<string, DbReplicationState>();
  readonly state: ReplicateState;

  constructor(
    readonly cfg: UnderstudyConfig,
    readonly node: NodeConfig,
    private readonly opts: ReplicatorOptions,
  ) {
    for (const db of cfg.databases) {
      const path = join(node.dataDir, db.name);
      this.dbs.set(path, {
        name: db.name,
        tier: db.tier,
        path,
        replicaPath: db.replicaPath,
        present: existsSync(path),
        uploads: 0,
        snapshots: 0,
        bytesUploaded: 0,
        errors: 0,
      });
    }
    this.gaps = new GapWatch((dbPath) => {
      const d = this.dbs.get(dbPath);
      return d ? replicaPrefix(cfg.store, d.replicaPath) : undefined;
    });
    const now = new Date().toISOString();
    this.state = {
      node: node.name,
      pid: process.pid,
      store: "",
      startedAt: now,
      updatedAt: now,
      litestream: { status: "starting", restarts: 0 },
      databases: [...this.dbs.values()],
    };
  }

  get configPath(): string {
    return join(this.node.stateDir, "litestream.yml");
  }

  async start(): Promise<void> {
    const { cfg, node, opts } = this;
    const found = await findLitestream(cfg.litestream);
    const binary = found.path;
    this.state.litestream.version = found.version;
    this.line =
      found.family === "0.5" ? new Line05(this.dbs, litestreamSocketPath(node), opts.log) : new Line03(this.dbs);
    const backend = storeBackend(cfg.store);
    this.state.store = backend.describe();

    // Litestream gets what it needs and nothing else: the parent's environment may hold the Claude key, Slack
    // webhooks, the proxy token or a service principal's secret, none of which Litestream 0.3 reads.
    const env: NodeJS.ProcessEnv = {};
    for (const k of LITESTREAM_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
    const creds = await backend.litestreamEnv().catch((e: Error) => {
      throw e instanceof UserError ? new UserError(`${cfg.file}: ${e.message}`) : e;
    });
    Object.assign(env, creds.env);
    const secrets = creds.secrets;
    // Whatever the config named it first: replicate runs as the primary (the lease decides who that is).
    writeFileAtomic(this.configPath, renderLitestreamConfig(cfg, { ...node, role: "primary" }, found.family));
    this.store = await openStore(cfg.store);
    // One replicate per data dir, and nothing uploaded before this node holds the lease.
    this.dirLock = DirLock.acquire(node.dataDir, "replicate");
    const lease = new Lease(this.store, cfg.store.prefix, node.name, {
      ttlMs: cfg.failover.leaseTtl,
      maxSkewMs: cfg.failover.maxClockSkew,
    });
    this.holder = new LeaseHolder(lease, {
      ttlMs: cfg.failover.leaseTtl,
      log: opts.log,
      epochFile: join(node.stateDir, "lease-epoch"),
      onFence: (why) => this.fence(why),
      onResume: async () => {
        this.state.litestream.waitingFor = undefined;
        this.dirty = true;
        this.supervisor?.start();
      },
    });
    this.state.lease = this.holder.state;
    // No lease, no uploads: a store that does not answer is waited for (and said so), never worked around.
    for (let wait = 1000; ; wait = Math.min(wait * 2, 10_000)) {
      try {
        await withTimeout(
          this.holder.start(),
          cfg.failover.leaseTtl,
          `taking the lease: no answer in ${cfg.failover.leaseTtl / 1000}s`,
        );
        break;
      } catch (e) {
        if (e instanceof UserError || this.stopping) {
          this.dirLock.release();
          this.dirLock = undefined;
          if (this.stopping) return;
          throw e;
        }
        this.state.litestream.waitingFor = `the lease: the store does not answer (${(e as Error).message.split("\n")[0]})`;
        this.dirty = true;
        this.flush();
        opts.log.warn({ err: (e as Error).message }, "cannot take the lease; retrying");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    this.state.litestream.waitingFor = undefined;
    if (this.stopping) {
      await this.holder.stop();
      return;
    }
    // A binary of the other line than the replicas in the store would start a second history beside them. Checked
    // once the store answered (the lease): before, a store that is down would hang the start here unexplained.
    const formats = await withTimeout(
      storeFormats(cfg, this.store),
      60_000,
      "listing the replicas to check their format: no answer in 60s",
    ).catch(async (e: Error) => {
      await this.holder?.stop();
      this.dirLock?.release();
      this.dirLock = undefined;
      throw e;
    });
    const problem = formatProblem(found.family, formats, cfg.litestream.format);
    if (problem) {
      await this.holder.stop();
      this.dirLock?.release();
      this.dirLock = undefined;
      throw new UserError(`${cfg.file}: ${problem}`);
    }

    const sup = new LitestreamSupervisor({
      binary,
      args: ["replicate", "-config", this.configPath],
      env,
      secrets,
      backoffMin: cfg.replicate.restartBackoffMin,
      backoffMax: cfg.replicate.restartBackoffMax,
    });
    this.supervisor = sup;
    sup.on("spawn", (pid) => {
      Object.assign(this.state.litestream, {
        status: "running",
        pid,
        startedAt: new Date().toISOString(),
        nextRestartAt: undefined,
        waitingFor: undefined,
        restarts: sup.restarts,
      });
      opts.log.info({ pid, restarts: sup.restarts }, "litestream started");
      this.dirty = true;
    });
    sup.on("exit", ({ code, signal, restartIn }) => {
      const at = new Date();
      const ls = this.state.litestream;
      ls.lastExit = { at: at.toISOString(), code, signal };
      ls.pid = undefined;
      if (restartIn !== undefined) {
        ls.status = "restarting";
        ls.nextRestartAt = new Date(at.getTime() + restartIn).toISOString();
        ls.waitingFor = `restart of litestream in ${Math.round(restartIn / 1000)}s (exited with ${signal ?? `code ${code}`})`;
        opts.log.error({ code, signal, restartInMs: restartIn }, "litestream exited; restarting with backoff");
      } else {
        ls.status = "stopped";
        opts.log.info({ code, signal }, "litestream stopped");
      }
      this.dirty = true;
    });
    sup.on("event", (e) => {
      if (this.line.event(e)) this.dirty = true;
      if (this.line.watchesGaps) this.gaps.record(e);
      if (e.msg === "wal segment written" || e.msg === "snapshot written" || e.msg === "ltx file uploaded")
        this.schedulePublish();
      const fields = { db: e.db, replica: e.replica, position: e.position, size: e.size, error: e.error };
      if (e.level === "ERROR") opts.log.error(fields, `litestream: ${e.msg}`);
      else if (e.level === "WARN") opts.log.warn(fields, `litestream: ${e.msg}`);
      else opts.log.debug(fields, `litestream: ${e.msg}`);
    });
    sup.on("line", (line) => opts.log.warn({ line }, "litestream output"));

    const listen = opts.metricsListen ?? cfg.replicate.metricsListen;
    if (listen) await this.serveMetrics(listen);
    this.checkPresence(true);
    this.flush();
    sup.start();
    this.timer = setInterval(() => {
      this.checkPresence(false);
      this.flush();
      void this.publish();
    }, opts.tickMs ?? 1000);
    if (cfg.replicate.gapCheckInterval > 0 && this.line.watchesGaps)
      this.gapTimer = setInterval(() => void this.checkGaps(), cfg.replicate.gapCheckInterval);
  }

  /**
   * Segments Litestream uploaded that the store lost make a gap no standby can cross until a snapshot after it
   * exists. Litestream 0.3 has no command for a snapshot, but starts a new generation, with a snapshot, when its
   * local generation marker is gone: stop it (it syncs what is left), remove the marker of each database with a
   * gap, start it again. Every database pauses for that restart (seconds); only the ones with a gap move on to a
   * new generation, which the standby bootstraps from.
   */
  async checkGaps(): Promise<void> {
    if (!this.store || this.gapChecking || this.stopping || this.handingOff) return;
    this.gapChecking = true;
    try {
      const gaps = await this.gaps.check(this.store);
      if (!gaps.length || this.stopping) return;
      const at = new Date().toISOString();
      for (const g of gaps) {
        const d = this.dbs.get(g.db);
        const message = `the store lost ${g.missing.length} uploaded WAL segment(s) of generation ${g.generation} (${g.missing.slice(0, 3).join(", ")}${g.missing.length > 3 ? ", …" : ""}); forcing a new generation so the standby can get past the gap`;
        this.opts.log.error({ db: d?.name, generation: g.generation, missing: g.missing.slice(0, 20) }, message);
        if (d) {
          d.lastError = { at, message };
          d.errors++;
          d.forcedGenerations = (d.forcedGenerations ?? 0) + 1;
        }
      }
      this.dirty = true;
      await this.supervisor?.stop();
      for (const g of gaps) rmSync(join(dirname(g.db), `.${basename(g.db)}-litestream`, "generation"), { force: true });
      if (!this.stopping && !this.holder?.state.fenced && !this.handingOff) this.supervisor?.start();
    } catch (e) {
      this.opts.log.warn({ err: (e as Error).message }, "cannot check the replica for gaps; retrying next time");
    } finally {
      this.gapChecking = false;
    }
  }

  private checkPresence(first: boolean): void {
    for (const d of this.dbs.values()) {
      const present = existsSync(d.path);
      if (present !== d.present || (first && !present)) {
        if (!present)
          this.opts.log.warn(
            { db: d.name, path: d.path },
            "configured database is missing on disk; waiting for it to appear",
          );
        else this.opts.log.info({ db: d.name }, "database appeared on disk");
        d.present = present;
        this.dirty = true;
      }
    }
  }

  flush(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.state.updatedAt = new Date().toISOString();
    this.state.litestream.restarts = this.supervisor?.restarts ?? 0;
    writeReplicateState(this.node.stateDir, this.state);
  }

  /** The positions manifest: what the standby reads instead of listing every replica. */
  manifest(): PositionsManifest {
    const databases: PositionsManifest["databases"] = {};
    for (const d of this.dbs.values()) {
      const e = this.line.entry(d);
      if (e) databases[d.replicaPath] = e;
    }
    return {
      version: 1,
      node: this.node.name,
      epoch: this.holder?.state.epoch,
      publishedAt: new Date().toISOString(),
      final: this.final || undefined,
      databases,
    };
  }

  private publishTimer?: NodeJS.Timeout;

  /** A new upload: publish as soon as the publish interval allows, so the standby hears of it at once. */
  private schedulePublish(): void {
    if (!this.store || this.publishTimer || this.cfg.replicate.publishInterval <= 0) return;
    const wait = Math.max(0, this.lastPublishAt + this.cfg.replicate.publishInterval - Date.now());
    this.publishTimer = setTimeout(() => {
      this.publishTimer = undefined;
      void this.publish();
    }, wait);
  }

  /**
   * Publishes when positions moved, at most once per publish interval; a failure is retried next tick. A forced
   * publish (the last one, at stop) never gives way to one already in flight: that one carries older positions.
   * Resolves true when the manifest in the store is current.
   */
  async publish(force = false): Promise<boolean> {
    // A fenced node publishes nothing: the standby must not follow what it uploads late.
    const holding = this.holder?.state.epoch !== undefined && !this.holder.state.fenced;
    if (!this.store || this.cfg.replicate.publishInterval <= 0 || !holding) return false;
    if (this.publishing) {
      if (!force) return false;
      await this.publishing;
    }
    if (!force && Date.now() - this.lastPublishAt < this.cfg.replicate.publishInterval) return false;
    const m = this.manifest();
    // The final flag is news too: a switchover's last manifest may carry positions already published.
    const key = JSON.stringify([
      m.final ?? false,
      Object.entries(m.databases).map(([k, v]) => [k, v.generation, v.index, v.offset, v.txid]),
    ]);
    // Unchanged positions are republished every 30 s all the same: the standby reads the manifest's age to
    // tell an idle primary from one that stopped publishing.
    if (key === this.published && Date.now() - this.lastPublishAt < MANIFEST_HEARTBEAT_MS) return true;
    const store = this.store;
    this.publishing = (async () => {
      try {
        const w = await writeManifest(store, this.cfg.store.prefix, { ...m, epochs: this.epochs }, this.manifestEtag);
        this.manifestEtag = w.etag;
        this.epochs = w.written.epochs;
        this.published = key;
        this.lastPublishAt = Date.now();
        this.state.manifestPublishes = (this.state.manifestPublishes ?? 0) + 1;
        return true;
      } catch (e) {
        if (e instanceof ManifestSupersededError) {
          // Another node publishes at a newer epoch: this one was fenced, whatever its lease renewals said yet.
          this.opts.log.error(e.message);
          void this.holder?.check().catch(() => undefined);
          return false;
        }
        this.opts.log.warn(
          { err: (e as Error).message.split("\n")[0] },
          "cannot publish positions to the store; retrying",
        );
        return false;
      } finally {
        this.publishing = undefined;
      }
    })();
    return this.publishing;
  }

  /** Our metrics followed by Litestream's own, so one scrape sees both. */
  private async metricsText(): Promise<string> {
    let theirs = "";
    try {
      const res = await fetch(`http://${this.cfg.litestream.metricsAddr}/metrics`, {
        signal: AbortSignal.timeout(1000),
      });
      if (res.ok) theirs = await res.text();
    } catch {
      theirs = "# litestream metrics unavailable\n";
    }
    return renderReplicateMetrics(this.state) + theirs;
  }

  private async serveMetrics(listen: string): Promise<void> {
    const { host, port } = splitHostPort(listen, "replicate.metrics-listen");
    this.server = createServer(
      safeHandler(async (req, res) => {
        if (req.url === "/metrics") {
          const t = await this.metricsText();
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
          res.end(t);
        } else if (req.url === "/state") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify(this.state));
        } else {
          res.writeHead(404).end();
        }
      }),
    );
    await listenHttp(this.server, host, port).catch((e: Error) => {
      throw new Error(`replicate.metrics-listen ${listen}: ${e.message}`);
    });
  }

  metricsAddress(): string | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? `${a.address}:${a.port}` : undefined;
  }

  litestreamPid(): number | undefined {
    return this.supervisor?.pid;
  }

  /**
   * Stops every writer this node has before its lease can expire: Litestream gets SIGTERM and, a sixth of the
   * TTL later, SIGKILL (an upload in flight may still land; the epoch in the manifest tells the standby whose it
   * was); then the demote hook stops the applications that write the databases.
   */
  private async fence(why: string): Promise<void> {
    this.state.litestream.waitingFor = why;
    this.dirty = true;
    await this.supervisor?.stop(this.cfg.failover.leaseTtl / 6);
    this.state.litestream.status = "fenced";
    this.flush();
    const hook = this.cfg.failover.hooks.demote;
    if (hook && !this.handingOff)
      await runHook(
        "demote",
        hook,
        this.cfg.failover.hookTimeout,
        { UNDERSTUDY_NODE: this.node.name, UNDERSTUDY_REASON: why },
        this.opts.log,
      );
  }

  /**
   * A switchover from this side: stop the applications (demote hook), let Litestream upload what is left and
   * exit, publish the final positions, then offer the lease to `to` and wait for it to take it. `to` applies
   * exactly those positions before it takes the lease, so nothing written here is lost. If `to` does not take it
   * within `timeoutMs`, the offer is withdrawn and this node resumes as the primary (Litestream, promote hook).
   */
  async handOff(to: string, timeoutMs: number): Promise<{ taken: boolean; detail: string }> {
    const holder = this.holder;
    if (!holder || holder.state.fenced) throw new Error("this node does not hold the lease");
    const log = this.opts.log.child({ switchover: to });
    this.handingOff = true;
    this.state.litestream.waitingFor = `switchover to ${to}: stopping the applications and Litestream`;
    this.dirty = true;
    const env = { UNDERSTUDY_NODE: this.node.name, UNDERSTUDY_REASON: `switchover to ${to}` };
    const demote = this.cfg.failover.hooks.demote;
    if (demote) await runHook("demote", demote, this.cfg.failover.hookTimeout, env, log);
    // The applications are stopped: wait until Litestream, still running, has uploaded every commit in each WAL
    // (its exit alone is not proof: under load it has been seen to exit cleanly without the last frames).
    const behind = await this.awaitWalUploaded(HANDOFF_STOP_MS);
    // SIGTERM: Litestream uploads what the WAL holds beyond its last upload, then exits 0. A planned handover
    // waits for that as long as it takes (a minute); any other ending means rows may be missing from the store.
    const ended = await this.supervisor?.stop(HANDOFF_STOP_MS);
    const resume = async (why: string) => {
      const detail = `switchover abandoned: ${why}; resumed`;
      this.final = false;
      this.handingOff = false;
      this.state.litestream.waitingFor = undefined;
      this.supervisor?.start();
      const hook = this.cfg.failover.hooks.promote;
      if (hook) await runHook("promote", hook, this.cfg.failover.hookTimeout, env, log);
      log.warn(detail);
      return { taken: false, detail };
    };
    if (behind.length)
      return resume(
        `Litestream had not uploaded the last commits of ${behind.slice(0, 3).join(", ")}${behind.length > 3 ? ", …" : ""} after ${HANDOFF_STOP_MS / 1000}s`,
      );
    if (ended && (ended.signal || ended.code !== 0))
      return resume(
        `Litestream did not finish its last upload (${ended.signal ? `killed after ${HANDOFF_STOP_MS / 1000}s` : `exited with code ${ended.code}`})`,
      );
    this.final = true;
    let published = false;
    for (let i = 0; i < 10 && !published; i++) {
      published = await this.publish(true);
      if (!published) await new Promise((r) => setTimeout(r, 500));
    }
    if (!published) return resume("the final positions could not be published");
    await holder.offer(to);
    this.state.litestream.waitingFor = `switchover: final positions published; waiting for ${to} to take the lease`;
    this.dirty = true;
    log.info("final positions published; lease offered");
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const r = await holder.check().catch(() => undefined);
      if (holder.state.superseded)
        return { taken: true, detail: `${r?.holder ?? to} took the lease at epoch ${r?.epoch}` };
      await new Promise((res) => setTimeout(res, 250));
    }
    try {
      await holder.offer(null);
    } catch {
      if (holder.state.superseded) return { taken: true, detail: `${to} took the lease as the offer was withdrawn` };
      // The store does not answer: renewals go on, and fencing stops us in time if it stays away.
    }
    return resume(`${to} did not take the lease in ${Math.round(timeoutMs / 1000)}s`);
  }

  /** Waits up to `ms` for Litestream to have uploaded every commit each present database holds now. */
  private awaitWalUploaded(ms: number): Promise<string[]> {
    return this.line.awaitUploaded(ms, () => this.supervisor?.pid !== undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    if (this.gapTimer) clearInterval(this.gapTimer);
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.publishTimer = undefined;
    const deadline = Date.now() + STOP_DEADLINE_MS;
    // Litestream uploads what is left on SIGTERM, but is first given a moment to upload what is already
    // committed while it runs; against a store that does not answer it is killed in time.
    const behind = await this.awaitWalUploaded(STOP_DEADLINE_MS * 0.3);
    if (behind.length) this.opts.log.warn({ databases: behind }, "stopping Litestream before it uploaded every commit");
    await this.supervisor?.stop(STOP_DEADLINE_MS * 0.5);
    // The standby fetches only up to the published positions: the last ones must reach the store, if it answers.
    let published = !this.store || this.cfg.replicate.publishInterval <= 0 || this.holder?.state.epoch === undefined;
    for (let attempt = 0, wait = 250; attempt < 5 && !published && Date.now() < deadline; attempt++, wait *= 2) {
      const left = deadline - Date.now();
      published = await Promise.race([
        this.publish(true),
        new Promise<false>((r) => setTimeout(() => r(false), left).unref()),
      ]);
      if (!published) await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, deadline - Date.now()))));
    }
    if (!published) this.opts.log.warn("stopped without publishing the final positions: the store did not answer");
    await Promise.race([
      this.holder?.stop(),
      new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
    ]);
    this.dirLock?.release();
    this.dirLock = undefined;
    this.state.litestream.status = "stopped";
    this.dirty = true;
    this.flush();
    if (this.server) await closeHttp(this.server);
  }
}
