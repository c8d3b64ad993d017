import type { UnderstudyConfig } from "../config/types";
import { readManifest } from "../replica/manifest";
import { openStore } from "../store/open";
import type { ReplicaStore } from "../store/store";
import { UserError } from "../util/errors";
import { Lease, type LeaseRecord } from "./lease";

/**
 * A planned handover, asked for through the store: `understudy run` on the primary reads this object every
 * check interval and, when it names another node and the epoch it holds, stops its applications and Litestream,
 * publishes its final positions and offers the lease to that node; `understudy run` there applies exactly those
 * positions and takes the lease. Anyone with the config can ask; only the two daemons act.
 */
export interface SwitchoverRequest {
  version: 1;
  to: string;
  /** The epoch of the primary being asked: a request outlives no change of hands. */
  epoch: number;
  requestedAt: string;
  reason?: string;
  /** Written back by the primary when it gave up and resumed: why. */
  abandoned?: string;
}

export function switchoverKey(prefix: string): string {
  return `${prefix}.understudy/switchover.json`;
}

/** The request in the store; undefined when there is none (or it is not one understudy wrote). */
export async function readSwitchoverRequest(
  store: ReplicaStore,
  prefix: string,
): Promise<SwitchoverRequest | undefined> {
  const b = await store.getIfExists(switchoverKey(prefix));
  if (!b) return undefined;
  try {
    const r = JSON.parse(b.toString("utf8")) as SwitchoverRequest;
    return r.version === 1 && typeof r.to === "string" && Number.isInteger(r.epoch) ? r : undefined;
  } catch {
    return undefined;
  }
}

export interface SwitchoverProgress {
  at: number;
  what: string;
}

export interface SwitchoverReport {
  from: string;
  to: string;
  epoch: number;
  /** From the request to the candidate holding the lease. */
  ms: number;
  steps: SwitchoverProgress[];
}

export interface SwitchoverOptions {
  reason?: string;
  timeoutMs?: number;
  /** Checks that the candidate can take over now (its /standby endpoint); undefined when it can, else why not. */
  candidateReady?: () => Promise<string | undefined>;
  onProgress?: (p: SwitchoverProgress) => void;
}

/**
 * Asks the primary to hand over to `to` and watches the store until `to` holds the lease (resolves) or the
 * primary gives up and resumes, or nothing happens in time (rejects, saying which).
 */
export async function switchover(
  cfg: UnderstudyConfig,
  to: string,
  o: SwitchoverOptions = {},
): Promise<SwitchoverReport> {
  if (!cfg.nodes.some((n) => n.name === to))
    throw new UserError(`${cfg.file}: no node named "${to}" (nodes: ${cfg.nodes.map((n) => n.name).join(", ")})`);
  const store = await openStore(cfg.store);
  const lease = new Lease(store, cfg.store.prefix, to, {
    ttlMs: cfg.failover.leaseTtl,
    maxSkewMs: cfg.failover.maxClockSkew,
  });
  const { record } = await lease.read();
  if (!record || !lease.live(record))
    throw new UserError(
      record
        ? `${record.holder}'s lease (epoch ${record.epoch}) has expired: there is no running primary to hand over; \`understudy promote\` on ${to} is the failover`
        : "no node holds the lease: nothing to hand over",
    );
  if (record.holder === to) throw new UserError(`${to} already holds the lease (epoch ${record.epoch})`);
  const notReady = await o.candidateReady?.();
  if (notReady) throw new UserError(`${to} cannot take over now: ${notReady}. Nothing was changed`);

  const t0 = Date.now();
  const steps: SwitchoverProgress[] = [];
  const say = (what: string) => {
    const p = { at: Date.now() - t0, what };
    steps.push(p);
    o.onProgress?.(p);
  };
  const req: SwitchoverRequest = {
    version: 1,
    to,
    epoch: record.epoch,
    requestedAt: new Date().toISOString(),
    reason: o.reason,
  };
  await store.put(switchoverKey(cfg.store.prefix), Buffer.from(JSON.stringify(req)));
  say(`asked ${record.holder} (epoch ${record.epoch}) to hand over to ${to}`);
  const timeout = o.timeoutMs ?? cfg.failover.switchoverTimeout + cfg.failover.leaseTtl * 2;
  let offered = false;
  let final = false;
  for (const end = Date.now() + timeout; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 250));
    const cur: LeaseRecord | undefined = (await lease.read().catch(() => ({ record: undefined }))).record;
    if (!final) {
      const m = await readManifest(store, cfg.store.prefix).catch(() => undefined);
      if (m?.final && m.epoch === record.epoch) {
        final = true;
        say(`${record.holder} stopped writing and published its final positions`);
      }
    }
    if (!offered && cur?.handoffTo === to && cur.epoch === record.epoch) {
      offered = true;
      say(`${record.holder} offers the lease to ${to}`);
    }
    if (cur && cur.holder === to && cur.epoch > record.epoch) {
      say(`${to} holds the lease at epoch ${cur.epoch}`);
      await store.delete(switchoverKey(cfg.store.prefix)).catch(() => undefined);
      return { from: record.holder, to, epoch: cur.epoch, ms: Date.now() - t0, steps };
    }
    const back = await readSwitchoverRequest(store, cfg.store.prefix).catch(() => undefined);
    if (back?.requestedAt === req.requestedAt && back.abandoned) throw new Error(`${record.holder}: ${back.abandoned}`);
    if (offered && cur?.holder === record.holder && !cur.handoffTo)
      throw new Error(
        `${record.holder} withdrew the offer and resumed as the primary: ${to} did not take over in time (is \`understudy run\` running on ${to}?)`,
      );
  }
  throw new Error(
    offered
      ? `${to} did not take the lease in time (is \`understudy run\` running on ${to}?); ${record.holder} resumes when its offer times out`
      : `${record.holder} did not act on the request in ${Math.round(timeout / 1000)}s: is it running \`understudy run\` (not \`replicate\`)?`,
  );
}

/** The primary's answer to a request it acted on and gave up: written over the request, for the asker to read. */
export async function markSwitchoverAbandoned(
  store: ReplicaStore,
  prefix: string,
  req: SwitchoverRequest,
  why: string,
): Promise<void> {
  await store.put(switchoverKey(prefix), Buffer.from(JSON.stringify({ ...req, abandoned: why })));
}
