import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { LoadWriter } from "../src/demo/load";
import { HealthServer } from "../src/health/server";
import { readManifest } from "../src/replica/manifest";
import { FileStore } from "../src/store/fileStore";
import { BIN, cli, tempDir, waitFor } from "./helpers/env";
import { extendConfig, makeFleet, SMALL_FLEET } from "./helpers/fleet";
import { alive, followProcess, standbyNode, understudyProcess, waitFollowing } from "./helpers/standby";

type Row = { id: number; created_at: string; kind: string; payload: string };

function rows(path: string): Row[] {
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    return db.prepare("SELECT id, created_at, kind, hex(payload) AS payload FROM items ORDER BY id").all() as Row[];
  } finally {
    db.close();
  }
}

test("promote after a power loss of the whole primary: refused while its lease lives, then the standby's copies are a prefix of the primary's rows in WAL mode, it replicates as epoch 2, and the old primary is refused", async (t) => {
  const dir = tempDir(t, "promote");
  const entries = [...SMALL_FLEET.slice(0, 2), SMALL_FLEET[4]];
  const names = entries.map((e) => e.name);
  const followed = entries.filter((e) => e.tier !== "P2").map((e) => e.name);
  const { file, dataDir } = await makeFleet(dir, entries);
  const marker = join(dir, "promoted");
  const cfg = extendConfig(
    file,
    `failover:
  lease-ttl: 3s
  hooks: { promote: "echo $UNDERSTUDY_EPOCH > ${marker}" }`,
  );
  // The primary in a process group of its own, so one kill -9 takes the supervisor and Litestream together.
  const primary = spawn(process.execPath, [BIN, "replicate", "--config", file, "--metrics-listen", ""], {
    detached: true,
    stdio: "ignore",
  });
  const pgid = primary.pid as number;
  t.after(() => {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  });
  const load = new LoadWriter(dataDir, names, 10);
  t.after(() => load.close());
  await waitFor("the primary to hold the lease", () => existsSync(join(cfg.nodes[0].stateDir, "lease-epoch")));
  load.start();
  const follow = followProcess(t, file);
  await waitFollowing(cfg, followed, 3);

  // Power loss: the writer, the supervisor and Litestream stop at the same instant.
  load.stop();
  process.kill(-pgid, "SIGKILL");
  const early = await cli(["promote", "--config", file, "--node", "standby"]);
  assert.equal(early.code, 2, early.stderr);
  assert.match(early.stderr, /primary holds the lease \(epoch 1\) until .*: it may still be writing/);
  await new Promise((res) => setTimeout(res, 5000)); // the 3 s lease and the 1 s skew allowance

  const p = await cli(["promote", "--config", file, "--node", "standby", "--json"]);
  assert.equal(p.code, 0, p.stderr);
  const r = JSON.parse(p.stdout) as {
    epoch: number;
    previous: { holder: string; epoch: number };
    steps: { step: string; ok: boolean; ms: number }[];
    databases: { name: string; quickCheck: string; atRiskMs?: number; appliedUpTo?: string }[];
    notFollowed: string[];
    restored: { name: string; rows: number }[];
  };
  assert.equal(r.epoch, 2);
  assert.deepEqual(r.previous, { holder: "primary", epoch: 1 });
  assert.ok(
    r.steps.every((s) => s.ok && Number.isFinite(s.ms)),
    JSON.stringify(r.steps),
  );
  // vcr.db's tier does not follow: restored from the store before the applications start, in WAL mode.
  assert.deepEqual(r.notFollowed, []);
  assert.deepEqual(
    r.restored.map((d) => d.name),
    ["vcr.db"],
  );
  const vcr = new Database(join(standbyNode(cfg).dataDir, "vcr.db"), { readonly: true });
  assert.equal(vcr.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(vcr.pragma("integrity_check", { simple: true }), "ok");
  vcr.close();
  const vcrRows = rows(join(standbyNode(cfg).dataDir, "vcr.db"));
  assert.ok(vcrRows.length > 0 && r.restored[0].rows === vcrRows.length);
  assert.deepEqual(vcrRows, rows(join(dataDir, "vcr.db")).slice(0, vcrRows.length), "a prefix of the primary's rows");
  await follow.exited;
  assert.ok(!alive(follow.pid), "promote stopped the follow daemon");
  assert.equal(readFileSync(marker, "utf8").trim(), "2", "the promote hook ran with the new epoch");

  // Every copy is the primary's history up to some point: nothing made up, nothing out of order, no hole.
  for (const n of followed) {
    const mine = rows(join(standbyNode(cfg).dataDir, n));
    const theirs = rows(join(dataDir, n));
    assert.ok(mine.length > 0 && mine.length <= theirs.length, `${n}: ${mine.length} of ${theirs.length} rows`);
    assert.deepEqual(mine, theirs.slice(0, mine.length), `${n}: a prefix of the primary's rows`);
    const db = new Database(join(standbyNode(cfg).dataDir, n), { readonly: true });
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
    db.close();
    const d = r.databases.find((x) => x.name === n);
    assert.equal(d?.quickCheck, "ok");
    assert.ok(d?.appliedUpTo, `${n}: the report says up to when`);
  }

  // The new primary replicates under the new epoch; an application writes on it.
  const np = understudyProcess(t, ["replicate", "--config", file, "--node", "standby", "--metrics-listen", ""]);
  const store = new FileStore(join(dir, "store"));
  const app = new Database(join(standbyNode(cfg).dataDir, followed[0]));
  app
    .prepare("INSERT INTO items (created_at, kind, payload) VALUES (?, 'after-promotion', x'00')")
    .run(new Date().toISOString());
  app.close();
  await waitFor("positions published by the new primary at epoch 2", async () => {
    const m = await readManifest(store, "litestream/");
    return m?.epoch === 2 && m.node === "standby" && m.databases[followed[0].replace(/\.db$/, "")];
  });
  // Its health endpoint answers as the primary: the role comes from the lease, not the config's first roles.
  const health = new HealthServer({ node: standbyNode(cfg), readyLagMs: 60_000 });
  const hp = (await health.listen("127.0.0.1", 0)).port;
  t.after(() => health.close());
  await waitFor("/primary to answer 200 on the promoted node", async () => {
    return (await fetch(`http://127.0.0.1:${hp}/primary`)).status === 200;
  });
  // A late upload of the fenced node lands in its old generation, newer than anything else: restore still takes
  // the generation the current primary names, and so does verify.
  const m2 = (await readManifest(store, "litestream/"))?.databases[followed[0].replace(/\.db$/, "")];
  const gens = join(dir, "store", "litestream", followed[0].replace(/\.db$/, ""), "generations");
  assert.ok(m2?.generation);
  const old = readdirSync(gens).find((g) => g !== m2.generation) as string;
  const oldWal = join(gens, old, "wal");
  const last = readdirSync(oldWal).sort().pop() as string;
  writeFileSync(join(oldWal, last.replace(/_([0-9a-f]{8})/, "_7fffffff")), readFileSync(join(oldWal, last)));
  const restored = await cli(["restore", followed[0], "--config", file, "-o", join(dir, "restored.db"), "--json"]);
  assert.equal(restored.code, 0, restored.stderr);
  assert.equal(JSON.parse(restored.stdout).generation, m2?.generation, "the current primary's generation");
  // The old primary comes back (launchd's KeepAlive): refused, with what to do.
  const back = await cli(["replicate", "--config", file, "--node", "primary", "--metrics-listen", ""]);
  assert.equal(back.code, 2, back.stderr);
  assert.match(back.stderr, /was superseded: standby holds the lease at epoch 2/);
  const follower = await cli(["follow", "--config", file, "--node", "standby", "--metrics-listen", ""]);
  assert.equal(follower.code, 2, "the promoted node is no standby any more");
  assert.match(follower.stderr, /it holds the lease \(epoch 2\): it is the primary/);

  // rejoin: the old primary's databases go aside whole, with what the store never got; then it follows.
  const before = Object.fromEntries(followed.map((n) => [n, rows(join(dataDir, n))]));
  const rj = await cli(["rejoin", "--config", file, "--node", "primary", "--json"]);
  assert.equal(rj.code, 0, rj.stderr);
  const rep = JSON.parse(rj.stdout) as {
    setAside: string;
    primary: string;
    databases: { name: string; unreplicated: Record<string, number>; compareError?: string }[];
  };
  assert.equal(rep.primary, "standby");
  for (const n of followed) {
    assert.ok(!existsSync(join(dataDir, n)), `${n} left the data dir`);
    assert.deepEqual(rows(join(rep.setAside, n)), before[n], `${n} was set aside whole`);
    const d = rep.databases.find((x) => x.name === n);
    assert.equal(d?.compareError, undefined);
    const copy = rows(join(standbyNode(cfg).dataDir, n)).filter((x) => x.kind !== "after-promotion");
    // What the new primary lacks of the old one's rows is what the store never got: reported, row for row.
    assert.equal(d?.unreplicated.items ?? 0, before[n].length - copy.length, `${n}: unreplicated rows reported`);
  }
  const back2 = understudyProcess(t, ["follow", "--config", file, "--node", "primary", "--metrics-listen", ""]);
  await waitFor("the old primary to copy the new one", () => {
    const p = join(dataDir, followed[0]);
    if (!existsSync(p)) return false;
    try {
      return rows(p).some((x) => x.kind === "after-promotion");
    } catch {
      return false;
    }
  });
  back2.child.kill("SIGTERM");
  assert.equal(await back2.exited, 0, back2.stderr());
  np.child.kill("SIGTERM");
  assert.equal(await np.exited, 0, np.stderr());
});
