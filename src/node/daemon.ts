import { join } from "node:path";
import type { Logger } from "pino";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { readEpochFile } from "../failover/holder";
import { Lease, type LeaseRecord } from "../failover/lease";
import { promote } from "../failover/promote";
import { rejoin } from "../failover/rejoin";
import { markSwitchoverAbandoned, readSwitchoverRequest, type SwitchoverRequest } from "../failover/switchover";
import { Follower } from "../follower/follower";
import { Replicator } from "../replicate/replicator";
import { CountingStore } from "../store/countingStore";
import { openStore } from "../store/open";
import { writeFileAtomic } from "../util/atomic";
import { splitHostPort } from "../util/net";
import { withTimeout } from "../util/timeout";
import { checkPrimary, primaryHealthUrl } from "./primaryCheck";
import { type NodeState, writeNodeState } from "./state";

export interface NodeDaemonOptions {
  log: Logger;
  /** HOST:PORT for the metrics of the role it runs; "" for none; undefined: the config's per role. */
  metricsListen?: string;
}

/**
 * `understudy run`: one daemon per node that runs whichever role the lease gives it and changes role without a
 * restart — the same service on both machines. As a standby it follows, watches the lease and (automatic mode)
 * the primary's /primary endpoint, promotes itself when the lease has expired and the primary failed
 * `failed-checks` checks in a row, and takes a lease offered to it by a switchover once it has applied the final
 * positions. As the primary it replicates and hands over when a switchover names another node; it then sets its
 * databases aside (they equal what the candidate applied) and follows the new primary. A node whose lease was
 * taken while it was away (superseded) waits for `understudy rejoin`: its databases may hold writes nobody saw.
 */
export class NodeDaemon {
  private follower?: Follower;
  private replicator?: Replicator;
  private timer?: NodeJS.Timeout;
  private busy = false;
  private stopping = false;
  private lease!: Lease;
  private store!: CountingStore;
  /** Switchover requests already acted on (by request time), so an abandoned one is not retried. */
  private handled = new Set<string>();
  readonly state: NodeState;

  constructor(
    readonly cfg: UnderstudyConfig,
    readonly node: NodeConfig,
    private readonly o: NodeDaemonOptions,
  ) {
    this.state = {
      node: node.name,
      pid: process.pid,
      mode: cfg.failover.mode,
      role: "starting",
      since: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
      primaryCheck: { failures: 0 },
      transitions: [],
    };
  }

  private get log(): Logger {
    return this.o.log;
  }

  private save(): void {
    this.state.updatedAt = new Date().toISOString();
    writeNodeState(this.node.stateDir, this.state);
  }

  private become(role: NodeState["role"], detail: string): void {
    const at = new Date().toISOString();
    this.state.transitions = [...this.state.transitions, { at, from: this.state.role, to: role, detail }].slice(-20);
    this.state.role = role;
    this.state.since = at;
    this.state.waitingFor = undefined;
    this.log.info({ role }, detail);
    this.save();
  }

  async start(): Promise<void> {
    this.store = new CountingStore(await openStore(this.cfg.store));
    this.lease = new Lease(this.store, this.cfg.store.prefix, this.node.name, {
      ttlMs: this.cfg.failover.leaseTtl,
      maxSkewMs: this.cfg.failover.maxClockSkew,
    });
    this.save();
    // The role comes from the lease; a store that does not answer is waited for, and said so.
    let record: LeaseRecord | undefined;
    for (let wait = 1000; ; wait = Math.min(wait * 2, 10_000)) {
      if (this.stopping) return;
      try {
        record = (await withTimeout(this.lease.read(), 15_000, "reading the lease: no answer in 15s")).record;
        break;
      } catch (e) {
        this.state.waitingFor = `the store, to read the lease (${(e as Error).message.split("\n")[0]})`;
        this.save();
        this.log.warn({ err: (e as Error).message }, "cannot read the lease; retrying");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    const lastEpoch = readEpochFile(join(this.node.stateDir, "lease-epoch"));
    if (record && record.holder !== this.node.name && lastEpoch !== undefined && record.epoch > lastEpoch) {
      this.become(
        "superseded",
        `${record.holder} took the lease at epoch ${record.epoch} while this node was away; its databases may hold writes nobody saw: run \`understudy rejoin\``,
      );
      this.state.waitingFor = "understudy rejoin";
      this.save();
    } else if (record ? record.holder === this.node.name : this.node.role === "primary")
      await this.becomePrimary(record ? `it holds the lease (epoch ${record.epoch})` : "the config names it primary");
    else
      await this.becomeStandby(
        record ? `${record.holder} holds the lease (epoch ${record.epoch})` : "the config names it standby",
      );
    this.timer = setInterval(() => void this.tick(), this.cfg.failover.checkInterval);
  }

  private async becomePrimary(why: string): Promise<void> {
    const r = new Replicator(this.cfg, this.node, {
      log: this.log.child({ role: "replicate" }),
      metricsListen: this.o.metricsListen,
    });
    this.replicator = r;
    this.state.waitingFor = "the lease";
    this.save();
    await r.start();
    if (this.stopping) return;
    this.state.epoch = r.state.lease?.epoch;
    this.become("primary", `primary: ${why}`);
  }

  private async becomeStandby(why: string): Promise<void> {
    const f = new Follower(this.cfg, this.node, this.store, {
      log: this.log.child({ role: "follow" }),
      pollMs: this.cfg.follow.pollInterval,
      probeMs: this.cfg.follow.probeInterval,
      concurrency: this.cfg.follow.concurrency,
    });
    f.start();
    this.follower = f;
    const listen = this.o.metricsListen ?? this.cfg.follow.metricsListen;
    if (listen) {
      const { host, port } = splitHostPort(listen, "follow.metrics-listen");
      await f.serveMetrics(host, port).catch((e: Error) => this.log.warn({ err: e.message }, "cannot serve metrics"));
    }
    this.become("standby", `standby: ${why}`);
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopping) return;
    this.busy = true;
    try {
      if (this.state.role === "standby") await this.standbyTick();
      else if (this.state.role === "primary") await this.primaryTick();
      else if (this.state.role === "superseded" && readEpochFile(join(this.node.stateDir, "lease-epoch")) === undefined)
        // `understudy rejoin` set the databases aside (and forgot the old epoch): follow the new primary.
        await this.becomeStandby("rejoined: following the new primary");
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "failover check failed; retrying");
    } finally {
      this.busy = false;
      if (!this.stopping) this.save();
    }
  }

  private async standbyTick(): Promise<void> {
    const { record } = await withTimeout(this.lease.read(), 15_000, "reading the lease: no answer in 15s");
    if (!record) return;
    this.state.holder = record.holder;
    this.state.epoch = record.epoch;
    this.state.leaseExpiresAt = record.expiresAt;
    if (record.handoffTo === this.node.name) return this.takeOver(record, true);
    if (this.cfg.failover.mode !== "automatic" || record.holder === this.node.name) return;
    const holder = this.cfg.nodes.find((n) => n.name === record.holder);
    const url = holder && primaryHealthUrl(this.cfg, holder);
    const check = this.state.primaryCheck;
    check.url = url;
    const failed = url ? await checkPrimary(url) : "no health URL for it";
    check.lastCheckAt = new Date().toISOString();
    check.failures = failed ? check.failures + 1 : 0;
    check.lastError = failed;
    if (this.lease.live(record)) {
      if (failed)
        this.state.waitingFor = `the lease of ${record.holder} to expire (${record.expiresAt}) after ${check.failures} failed check(s)`;
      else this.state.waitingFor = undefined;
      return;
    }
    if (check.failures < this.cfg.failover.failedChecks) {
      this.state.waitingFor = `${this.cfg.failover.failedChecks} failed checks of ${record.holder} in a row (${check.failures} so far) with its lease expired`;
      return;
    }
    await this.takeOver(record, false);
  }

  /** Stops following and promotes this node (a switchover's offer, or automatic failover); back to following on failure. */
  private async takeOver(record: LeaseRecord, handoff: boolean): Promise<void> {
    const why = handoff
      ? `switchover: ${record.holder} offers the lease (epoch ${record.epoch})`
      : `automatic failover: ${record.holder}'s lease expired at ${record.expiresAt} and ${this.state.primaryCheck.failures} checks of it failed (${this.state.primaryCheck.lastError})`;
    this.become("promoting", why);
    await this.follower?.stop();
    this.follower = undefined;
    try {
      const report = await promote(this.cfg, this.node, {
        log: this.log.child({ role: "promote" }),
        handoff,
        catchUpMs: handoff ? this.cfg.failover.switchoverTimeout / 2 : undefined,
      });
      this.state.lastPromotion = report;
      writeFileAtomic(
        join(this.node.stateDir, `promotion-epoch${report.epoch}.json`),
        `${JSON.stringify(report, null, 2)}\n`,
      );
      this.state.primaryCheck.failures = 0;
      await this.becomePrimary(`promoted at epoch ${report.epoch} (${handoff ? "switchover" : "automatic failover"})`);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, "promotion failed; following again");
      await this.becomeStandby(`promotion failed: ${(e as Error).message}`);
    }
  }

  private async primaryTick(): Promise<void> {
    const r = this.replicator;
    if (!r) return;
    const lease = r.state.lease;
    this.state.epoch = lease?.epoch;
    this.state.holder = lease?.holder;
    this.state.leaseExpiresAt = lease?.expiresAt;
    if (lease?.superseded) {
      this.become("superseded", lease.fenced ?? "another node took the lease");
      this.state.waitingFor = "understudy rejoin";
      return;
    }
    if (lease?.fenced) return;
    const req = await readSwitchoverRequest(this.store, this.cfg.store.prefix).catch(() => undefined);
    if (!req || !this.actionable(req, lease?.epoch)) return;
    this.handled.add(req.requestedAt);
    await this.handOff(req);
  }

  private actionable(req: SwitchoverRequest, epoch: number | undefined): boolean {
    return (
      req.epoch === epoch &&
      req.to !== this.node.name &&
      this.cfg.nodes.some((n) => n.name === req.to) &&
      !this.handled.has(req.requestedAt) &&
      Date.now() - Date.parse(req.requestedAt) < this.cfg.failover.switchoverTimeout
    );
  }

  /** The primary's side of a switchover; when the candidate took over, this node follows it. */
  private async handOff(req: SwitchoverRequest): Promise<void> {
    const r = this.replicator as Replicator;
    this.become("switching-over", `switchover to ${req.to} requested at ${req.requestedAt}`);
    const out = await r.handOff(req.to, this.cfg.failover.switchoverTimeout);
    if (!out.taken) {
      await markSwitchoverAbandoned(this.store, this.cfg.store.prefix, req, out.detail).catch(() => undefined);
      this.become("primary", out.detail);
      return;
    }
    await r.stop();
    this.replicator = undefined;
    // Its databases equal the final positions the new primary applied; they are set aside all the same (never
    // deleted), with the report saying nothing was left behind, and fresh copies are followed.
    const report = await rejoin(this.cfg, this.node, this.log.child({ role: "rejoin" }), r.state.databases);
    this.state.lastRejoin = { setAside: report.setAside, at: new Date().toISOString() };
    await this.becomeStandby(`switchover: ${out.detail}; databases set aside in ${report.setAside}`);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    while (this.busy) await new Promise((r) => setTimeout(r, 50));
    await this.follower?.stop();
    await this.replicator?.stop();
    this.state.role = "stopped";
    this.save();
  }
}
