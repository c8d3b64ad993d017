import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import type { UnderstudyConfig } from "../src/config/types";
import { AZURITE_KEY, AzuriteServer } from "../src/demo/azurite";
import { WRITER } from "../src/demo/writerProcess";
import { type LeaseRecord, leaseKey } from "../src/failover/lease";
import { HealthServer } from "../src/health/server";
import { readNodeState } from "../src/node/state";
import { FileStore } from "../src/store/fileStore";
import { openStore } from "../src/store/open";
import { httpStatus } from "../src/util/net";
import { KEY_ENV } from "./helpers/azurite";
import { BIN, cli, tempDir, waitFor } from "./helpers/env";
import { extendConfig, healthPorts, makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import { alive, understudyProcess } from "./helpers/standby";

type T = { after: (fn: () => Promise<void> | void) => void };

function ids(path: string): number[] {
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    return db.prepare("SELECT id FROM items ORDER BY id").pluck().all() as number[];
  } finally {
    db.close();
  }
}

/** A process in a process group of its own, so one kill -9 takes it and what it started (Litestream): power loss. */
function group(t: T, argv: string[], prefix: string[] = []): { pid: number; child: ChildProcess; err: () => string } {
  const [cmd, ...args] = prefix.length ? [...prefix, process.execPath, ...argv] : [process.execPath, ...argv];
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
  });
  const pid = child.pid as number;
  t.after(() => {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  return { pid, child, err: () => err };
}

async function serveHealth(t: T, cfg: UnderstudyConfig, ports: { primary: number; standby: number }) {
  const servers: Record<string, HealthServer> = {};
  for (const n of cfg.nodes) {
    const h = new HealthServer({ node: n, readyLagMs: 60_000 });
    await h.listen("127.0.0.1", ports[n.name as "primary" | "standby"]);
    servers[n.name] = h;
    t.after(() => h.close().catch(() => undefined));
  }
  return servers;
}

/** Every object of the old primary's generations, with its modification time: what it uploads shows here. */
function objectsUnder(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.set(join(d, e.name), statSync(join(d, e.name)).mtimeMs);
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

test("automatic failover: never while the lease lives (primary unreachable but renewing), then after kill -9 of the whole primary the standby promotes itself and serves /primary; the old primary comes back superseded, uploads nothing, and after rejoin follows", async (t) => {
  const dir = tempDir(t, "auto");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { ports, healthUrls } = await healthPorts();
  const { file, dataDir } = await makeFleet(dir, entries, { healthUrls });
  const cfg = extendConfig(
    file,
    `failover:
  mode: automatic
  lease-ttl: 3s
  check-interval: 500ms
  failed-checks: 3`,
  );
  const [primary, standby] = cfg.nodes;
  const health = await serveHealth(t, cfg, ports);
  const writerPid = join(dir, "writer.pid");
  const app = group(t, [WRITER, dataDir, writerPid, "20", ...names]);
  await waitFor("the application to write", () => existsSync(writerPid));
  const p = group(t, [BIN, "run", "--config", file, "--node", "primary", "--metrics-listen", ""]);
  const s = understudyProcess(t, ["run", "--config", file, "--node", "standby", "--metrics-listen", ""]);
  await waitFor(
    "/primary on the primary",
    async () => (await httpStatus(`http://127.0.0.1:${ports.primary}/primary`)) === 200,
    60_000,
  );
  await waitFor(
    "the standby ready",
    async () => (await httpStatus(`http://127.0.0.1:${ports.standby}/standby?lag=60s`)) === 200,
    60_000,
  );

  // The standby cannot reach the primary's health endpoint, but the primary renews its lease: no promotion.
  await health.primary.close();
  await waitFor(
    "the standby to count failed checks",
    () => (readNodeState(standby.stateDir)?.primaryCheck.failures ?? 0) >= 4,
    30_000,
  );
  await new Promise((r) => setTimeout(r, 4000));
  assert.equal(readNodeState(standby.stateDir)?.role, "standby", "never while the lease lives");
  assert.match(readNodeState(standby.stateDir)?.waitingFor ?? "", /the lease of primary to expire/);
  const h2 = new HealthServer({ node: primary, readyLagMs: 60_000 });
  await h2.listen("127.0.0.1", ports.primary);
  t.after(() => h2.close().catch(() => undefined));
  await waitFor("the checks to pass again", () => readNodeState(standby.stateDir)?.primaryCheck.failures === 0, 30_000);

  // Power loss: the application, the daemon and Litestream stop at once.
  const killedAt = Date.now();
  process.kill(-app.pid, "SIGKILL");
  process.kill(-p.pid, "SIGKILL");
  await waitFor(
    "/primary on the standby",
    async () => (await httpStatus(`http://127.0.0.1:${ports.standby}/primary`)) === 200,
    90_000,
  );
  const rto = Date.now() - killedAt;
  const st = readNodeState(standby.stateDir);
  assert.equal(st?.role, "primary");
  assert.match(
    st?.transitions.find((x) => x.to === "promoting")?.detail ?? "",
    /automatic failover: primary's lease expired/,
  );
  const shown = await cli(["status", "--config", file, "--node", "standby"]);
  assert.match(
    shown.stdout,
    /understudy run pid \d+ running \| PRIMARY since \S+ \| failover automatic \| lease: standby epoch 2/,
  );
  t.diagnostic(`RTO (kill -9 to /primary 200 on the standby): ${(rto / 1000).toFixed(1)}s at a 3s lease TTL`);
  const store = new FileStore(join(dir, "store"));
  const lease = JSON.parse((await store.get(leaseKey("litestream/"))).toString()) as LeaseRecord;
  assert.equal(lease.holder, "standby");
  assert.equal(lease.epoch, 2);
  let lost = 0;
  for (const n of names) {
    const mine = ids(join(standby.dataDir, n));
    const theirs = ids(join(dataDir, n));
    assert.ok(mine.length > 0);
    assert.deepEqual(mine, theirs.slice(0, mine.length), `${n}: a prefix of what the primary committed`);
    lost += theirs.length - mine.length;
  }
  t.diagnostic(`rows committed on the primary but never uploaded before the kill: ${lost}`);

  // The old primary's service comes back: superseded, it uploads nothing and waits for rejoin.
  const oldGens = join(dir, "store", "litestream");
  const before = objectsUnder(oldGens);
  const back = understudyProcess(t, ["run", "--config", file, "--node", "primary", "--metrics-listen", ""]);
  await waitFor(
    "the old primary to see it was superseded",
    () => readNodeState(primary.stateDir)?.role === "superseded",
    30_000,
  );
  await new Promise((r) => setTimeout(r, 3000));
  const after = objectsUnder(oldGens);
  for (const [k, mtime] of after) {
    if (before.get(k) === mtime) continue;
    // Only the new primary writes now: its generations and the positions it publishes.
    const m = JSON.parse(readFileSync(join(dir, "store", "litestream", ".understudy", "positions.json"), "utf8"));
    const gens = Object.values(m.databases as Record<string, { generation: string }>).map((d) => d.generation);
    assert.ok(
      k.includes(".understudy") || gens.some((g) => k.includes(g)),
      `${k} changed after the old primary came back`,
    );
  }
  assert.equal(await httpStatus(`http://127.0.0.1:${ports.primary}/primary`), 503);
  const rj = await cli(["rejoin", "--config", file, "--node", "primary", "--json"]);
  assert.equal(rj.code, 0, rj.stderr);
  await waitFor(
    "the old primary to follow after rejoin",
    () => readNodeState(primary.stateDir)?.role === "standby",
    30_000,
  );
  await waitFor(
    "its copies to be ready",
    async () => (await httpStatus(`http://127.0.0.1:${ports.primary}/standby?lag=60s`)) === 200,
    90_000,
  );
  assert.ok(alive(s.pid) && alive(back.pid), `${s.stderr()}\n${back.stderr()}`);
});

test("50 concurrent promotions leave exactly one holder; the others say who won and change nothing", async (t) => {
  const dir = tempDir(t, "promote50");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const standbys = Array.from(
    { length: 50 },
    (_, i) => `  s${i}:\n    role: standby\n    data-dir: ${JSON.stringify(join(dir, `s${i}`))}\n`,
  ).join("");
  writeFileSync(
    file,
    readFileSync(file, "utf8").replace(/ {2}standby:\n {4}role: standby\n {4}data-dir: [^\n]+\n/, standbys),
  );
  // A lease that outlives the race: 50 promote processes on two cores take seconds to start, and a winner's lease
  // that expired meanwhile (a CLI promote does not renew it) could rightly be taken again by a late one.
  const cfg = extendConfig(file, "failover:\n  lease-ttl: 60s");
  // A primary that replicated for a while and stopped: its lease is let go, its replica is in the store.
  const { r, load } = await startPrimary(t, cfg, ["mission-control.db"], 20);
  await waitFor("an upload", () => (r.state.databases[0]?.uploads ?? 0) > 2);
  load.stop();
  await r.stop();
  const store = await openStore(cfg.store);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => cli(["promote", "--config", file, "--node", `s${i}`, "--json"])),
  );
  const won = results.map((r, i) => ({ ...r, node: `s${i}` })).filter((r) => r.code === 0);
  assert.equal(won.length, 1, results.map((r) => r.stderr.trim().split("\n").pop()).join("\n"));
  const lease = JSON.parse((await store.get(leaseKey("litestream/"))).toString()) as LeaseRecord;
  assert.equal(lease.holder, won[0].node);
  assert.equal(lease.epoch, 2);
  for (const r of results.filter((x) => x.code !== 0)) {
    assert.equal(r.code, 2, r.stderr);
    // Lost the race after checking, or came after the winner: either way told who holds it.
    assert.match(
      r.stderr,
      new RegExp(
        `lease changed meanwhile: ${won[0].node} holds it at epoch 2; s\\d+ did not take it and changed nothing|${won[0].node} holds the lease \\(epoch 2\\)`,
      ),
    );
  }
});

test("partition: the store cut off from the primary alone (network namespace) makes it stop Litestream and run its demote hook before the standby may promote; healed, it stays fenced and uploads nothing", async (t) => {
  const ns = `us-${process.pid}`;
  const [hostIf, nsIf] = [`ush${process.pid % 10000}`, `usn${process.pid % 10000}`];
  const net = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
  const ip = (...a: string[]) => execFileSync("ip", a, { stdio: "pipe" });
  try {
    ip("netns", "add", ns);
  } catch (e) {
    t.skip(`cannot create a network namespace here (${(e as Error).message.split("\n")[0]})`);
    return;
  }
  t.after(() => {
    for (const a of [
      ["netns", "del", ns],
      ["link", "del", hostIf],
    ])
      try {
        ip(...a);
      } catch {
        // the link went with the namespace
      }
  });
  ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf);
  ip("link", "set", nsIf, "netns", ns);
  ip("addr", "add", `${net}.1/30`, "dev", hostIf);
  ip("link", "set", hostIf, "up");
  ip("netns", "exec", ns, "ip", "addr", "add", `${net}.2/30`, "dev", nsIf);
  ip("netns", "exec", ns, "ip", "link", "set", nsIf, "up");
  ip("netns", "exec", ns, "ip", "link", "set", "lo", "up");

  const azurite = new AzuriteServer();
  await azurite.start({ host: `${net}.1` });
  t.after(() => azurite.stop());
  process.env[KEY_ENV] = AZURITE_KEY;
  const dir = tempDir(t, "partition");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const container = `part${process.pid}`;
  const { ports, healthUrls } = await healthPorts();
  const { file, dataDir } = await makeFleet(dir, entries, {
    store: { type: "abs", endpoint: azurite.endpoint, container, keyEnv: KEY_ENV },
    healthUrls,
  });
  const demoted = join(dir, "demoted-at");
  const cfg = extendConfig(
    file,
    `failover:
  mode: automatic
  lease-ttl: 6s
  check-interval: 500ms
  failed-checks: 3
  hooks: { demote: "date +%s%3N > ${demoted}" }`,
  );
  const [, standby] = cfg.nodes;
  const store = await openStore(cfg.store);
  await (store as unknown as { ensureContainer: () => Promise<void> }).ensureContainer();
  await serveHealth(t, cfg, ports);
  const app = group(t, [WRITER, dataDir, join(dir, "w.pid"), "20", ...names]);
  await waitFor("the application to write", () => existsSync(join(dir, "w.pid")));
  // The primary's daemon runs inside the namespace: its only way to the store is the veth pair.
  const p = group(
    t,
    [BIN, "run", "--config", file, "--node", "primary", "--metrics-listen", ""],
    ["ip", "netns", "exec", ns],
  );
  const s = understudyProcess(t, ["run", "--config", file, "--node", "standby", "--metrics-listen", ""]);
  await waitFor(
    "/primary on the primary",
    async () => (await httpStatus(`http://127.0.0.1:${ports.primary}/primary`)) === 200,
    60_000,
  );
  await waitFor(
    "the standby ready",
    async () => (await httpStatus(`http://127.0.0.1:${ports.standby}/standby?lag=60s`)) === 200,
    60_000,
  );

  ip("link", "set", hostIf, "down");
  const cutAt = Date.now();
  await waitFor("the primary to demote", () => existsSync(demoted), 30_000);
  process.kill(-app.pid, "SIGKILL"); // the demote hook's job, done by the test: the apps stop
  await waitFor("the standby to promote itself", () => readNodeState(standby.stateDir)?.role === "primary", 90_000);
  const lease = JSON.parse((await store.get(leaseKey("litestream/"))).toString()) as LeaseRecord;
  assert.equal(lease.holder, "standby");
  const demotedAt = Number(readFileSync(demoted, "utf8"));
  assert.ok(
    demotedAt < Date.parse(lease.acquiredAt),
    `the primary demoted ${demotedAt - cutAt} ms after the cut, the standby took the lease ${Date.parse(lease.acquiredAt) - cutAt} ms after it`,
  );
  t.diagnostic(
    `cut → primary demoted ${demotedAt - cutAt} ms; cut → standby holds the lease ${Date.parse(lease.acquiredAt) - cutAt} ms`,
  );

  // Healed: the old primary sees the new holder and stays fenced; nothing new lands in its generations.
  const keys = async () => {
    const out: string[] = [];
    for await (const o of store.list("litestream/")) out.push(o.key);
    return out;
  };
  // The old primary's generations: every one but those the new primary names.
  const current = async () => {
    const m = JSON.parse((await store.get("litestream/.understudy/positions.json")).toString()) as {
      node: string;
      databases: Record<string, { generation: string }>;
    };
    return m.node === "standby" ? Object.values(m.databases).map((d) => d.generation) : [];
  };
  await waitFor("the new primary to publish", async () => (await current()).length === names.length, 60_000);
  const theirs = await current();
  const oldGens = new Set(
    (await keys())
      .map((k) => /generations\/([0-9a-f]{16})\//.exec(k)?.[1])
      .filter((g): g is string => !!g && !theirs.includes(g)),
  );
  assert.ok(oldGens.size > 0, JSON.stringify({ theirs, keys: (await keys()).slice(0, 30) }));
  const inOld = async () => new Set((await keys()).filter((k) => [...oldGens].some((g) => k.includes(g))));
  ip("link", "set", hostIf, "up");
  const healed = await inOld();
  await waitFor(
    "the old primary to see it was superseded",
    () => readNodeState(cfg.nodes[0].stateDir)?.role === "superseded",
    60_000,
  );
  await new Promise((r) => setTimeout(r, 3000));
  const m = JSON.parse((await store.get("litestream/.understudy/positions.json")).toString()) as {
    node: string;
    epoch: number;
  };
  assert.equal(m.node, "standby", "the manifest is the new primary's");
  assert.equal(m.epoch, 2);
  const later = [...(await inOld())].filter((k) => !healed.has(k));
  assert.deepEqual(later, [], "no new objects in the old primary's generations after the heal");
  assert.ok(alive(s.pid) && alive(p.pid), s.stderr() + p.err());
});
