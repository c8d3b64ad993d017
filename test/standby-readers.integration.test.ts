import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { cli, tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";
import {
  alive,
  assertCopiesEqual,
  caughtUpTo,
  followProcess,
  readFollowStateFile,
  readOnlyRead,
  standbyNode,
  waitFollowing,
} from "./helpers/standby";

const FOLLOWED = SMALL_FLEET.filter((e) => e.tier !== "P2").map((e) => e.name);

/** One run of the sqlite3 CLI on a copy, read-write as the plan's drill opens it: "ok", "busy" or the error. */
function sqlite3Cli(path: string): Promise<string> {
  return new Promise((resolve) => {
    execFile("sqlite3", [path, "PRAGMA quick_check; SELECT count(*) FROM items;"], (err, stdout, stderr) => {
      if (err) resolve(/database is locked/.test(stderr) ? "busy" : `exit ${err.code}: ${stderr.trim()}`);
      else resolve(stdout.split("\n")[0] === "ok" ? "ok" : `quick_check: ${stdout.trim()}`);
    });
  });
}

test("standby: sqlite3 CLI read-write loops and read-only readers (timeout 0 and default) during applies never corrupt a copy or see half of an apply", async (t) => {
  const dir = tempDir(t, "readers");
  const { cfg, file } = await makeFleet(dir);
  const { r, load } = await startPrimary(
    t,
    cfg,
    SMALL_FLEET.map((e) => e.name),
    20,
  );
  const f = followProcess(t, file);
  await waitFollowing(cfg, FOLLOWED, 2);
  const copies = FOLLOWED.map((n) => join(standbyNode(cfg).dataDir, n));
  const outcomes = new Map<string, number>();
  const bad: string[] = [];
  const note = (who: string, o: string) => {
    const k = o === "ok" || o === "busy" ? `${who}:${o}` : `${who}:error`;
    outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    if (k.endsWith(":error")) bad.push(`${who}: ${o}`);
  };
  // Long and tight: the window the released follower left open was microseconds wide per apply.
  const until = Date.now() + 45_000;
  const cliLoop = async () => {
    for (let i = 0; Date.now() < until; i++) note("sqlite3", await sqlite3Cli(copies[i % copies.length]));
  };
  const roLoop = async (timeout: number) => {
    for (let i = 0; Date.now() < until; i++) {
      note(`ro${timeout}`, readOnlyRead(copies[i % copies.length], timeout));
      await new Promise((res) => setImmediate(res));
    }
  };
  await Promise.all([cliLoop(), cliLoop(), roLoop(0), roLoop(5000)]);
  const during = readFollowStateFile(cfg);
  assert.ok(
    during?.databases.every((d) => d.segmentsApplied > 5),
    "the follower kept applying while being read",
  );

  load.stop();
  await r.stop();
  await waitFor("the standby to catch up", () => caughtUpTo(readFollowStateFile(cfg), r, FOLLOWED));
  f.child.kill("SIGTERM");
  assert.equal(await f.exited, 0, f.stderr());
  assert.deepEqual(bad.slice(0, 10), [], `readers met errors: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  for (const who of ["sqlite3", "ro0", "ro5000"])
    assert.ok((outcomes.get(`${who}:ok`) ?? 0) > 10, `${who} read committed states (${outcomes.get(`${who}:ok`)})`);
  assertCopiesEqual(cfg, FOLLOWED);
  assert.ok(!readdirSync(standbyNode(cfg).dataDir).some((x) => x.endsWith("-journal")), "no journal left");
});

test("standby: kill -9 of the follower mid-apply, then read-only readers at once: busy or a committed state, never an error", async (t) => {
  const dir = tempDir(t, "kill-readers");
  const entries = SMALL_FLEET.slice(0, 3);
  const names = entries.map((e) => e.name);
  const { cfg, file } = await makeFleet(dir, entries);
  const { r, load } = await startPrimary(t, cfg, names, 20);
  const copies = names.map((n) => join(standbyNode(cfg).dataDir, n));
  // Each apply pauses between writing its pages and committing them, so the kills land mid-apply on purpose.
  const slow = { UNDERSTUDY_FAULT_APPLY_COMMIT_PAUSE_MS: "1500" };
  const bad: string[] = [];
  let midApply = 0;
  let busyAtOnce = 0;
  for (let i = 0; i < 6; i++) {
    const f = followProcess(t, file, slow);
    const s = await waitFor("the follower and its lock keeper", () => {
      const st = readFollowStateFile(cfg);
      return st?.pid === f.pid && st.lockKeeperPid && st.databases.every((d) => d.phase === "following")
        ? st
        : undefined;
    });
    // Kill while an apply is between its page writes and its commit (a journal exists), at a random moment of it.
    await waitFor("an apply in progress", () => copies.some((p) => existsSync(`${p}-journal`)), 30_000, 20).catch(
      () => undefined,
    );
    await new Promise((res) => setTimeout(res, Math.random() * 300));
    const journals = copies.filter((p) => existsSync(`${p}-journal`)).length;
    f.child.kill("SIGKILL");
    await f.exited;
    if (journals) midApply++;
    // At once, before anything restarts: an application opening the copies read-only.
    for (const p of copies) {
      const now = readOnlyRead(p, 0);
      if (now === "busy") busyAtOnce++;
      else if (now !== "ok") bad.push(`kill ${i}, timeout 0, ${p}: ${now}`);
      const waited = readOnlyRead(p, 5000);
      if (waited !== "ok") bad.push(`kill ${i}, timeout 5000, ${p}: ${waited}`);
    }
    const keeper = s.lockKeeperPid as number;
    await waitFor("the orphaned lock keeper to roll back and exit", () => !alive(keeper), 30_000);
    for (const p of copies) {
      assert.ok(!existsSync(`${p}-journal`), `kill ${i}: the keeper rolled ${p} back and removed its journal`);
      const db = new Database(p, { readonly: true });
      assert.equal(db.pragma("integrity_check", { simple: true }), "ok");
      db.close();
    }
  }
  assert.deepEqual(bad, [], `${busyAtOnce} busy answers were fine; these were not`);
  assert.ok(midApply >= 3, `at least half of the kills landed mid-apply (${midApply} of 6)`);

  load.stop();
  await r.stop();
  const f = followProcess(t, file);
  await waitFor("the standby to catch up after the kills", () => caughtUpTo(readFollowStateFile(cfg), r, names));
  f.child.kill("SIGTERM");
  assert.equal(await f.exited, 0, f.stderr());
  assertCopiesEqual(cfg, names);
});

test("standby: a second follower on the same data dir is refused with the first one's pid; a copy written by another process is rebuilt", async (t) => {
  const dir = tempDir(t, "two-followers");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { cfg, file } = await makeFleet(dir, entries);
  const { r, load } = await startPrimary(t, cfg, names, 5);
  const first = followProcess(t, file);
  await waitFollowing(cfg, names);
  const second = await cli(["follow", "--config", file, "--metrics-listen", ""]);
  assert.equal(second.code, 2, second.stderr);
  assert.match(second.stderr, new RegExp(`in use by another understudy follow \\(pid ${first.pid}\\)`));
  assert.equal(second.stderr.trim().split("\n").length, 1, "one line");
  assert.equal(readFollowStateFile(cfg)?.pid, first.pid, "the state file is still the first follower's");

  // Someone writes to a standby copy (the drill's sqlite3, by mistake): detected, and rebuilt from the store.
  const copy = join(standbyNode(cfg).dataDir, names[0]);
  await new Promise<void>((resolve, reject) =>
    execFile(
      "sqlite3",
      [
        "-cmd",
        ".timeout 5000",
        copy,
        "INSERT INTO items (created_at, kind, payload) VALUES ('now', 'foreign', x'00');",
      ],
      (err, _o, stderr) => (err ? reject(new Error(stderr)) : resolve()),
    ),
  );
  await waitFor("the foreign write to be noticed and the copy rebuilt", () => {
    const d = readFollowStateFile(cfg)?.databases.find((x) => x.name === names[0]);
    return d && d.bootstraps >= 2 && d.phase === "following";
  });
  load.stop();
  await r.stop();
  await waitFor("the standby to catch up", () => caughtUpTo(readFollowStateFile(cfg), r, names));
  first.child.kill("SIGTERM");
  assert.equal(await first.exited, 0, first.stderr());
  assert.match(first.stderr(), /another process changed it/);
  assertCopiesEqual(cfg, names);
  const db = new Database(copy, { readonly: true });
  assert.deepEqual(db.prepare("SELECT count(*) AS n FROM items WHERE kind = 'foreign'").get(), { n: 0 });
  db.close();
});
