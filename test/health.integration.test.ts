import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { Follower } from "../src/follower/follower";
import { HealthServer } from "../src/health/server";
import { CountingStore } from "../src/store/countingStore";
import { FileStore } from "../src/store/fileStore";
import { tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";

async function serve(t: { after: (fn: () => Promise<void>) => void }, s: HealthServer): Promise<string> {
  const a = await s.listen("127.0.0.1", 0);
  t.after(() => s.close());
  return `http://127.0.0.1:${a.port}`;
}

async function get(url: string): Promise<{ status: number; body: Record<string, unknown> & { problems?: string[] } }> {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

test("health endpoints on a primary and a standby answer 200 or 503 by role, replication and lag", async (t) => {
  const dir = tempDir(t, "health");
  const { cfg } = await makeFleet(dir);
  const [primary, standby] = cfg.nodes;
  const p = await serve(t, new HealthServer({ node: primary, readyLagMs: 60_000 }));
  const s = await serve(t, new HealthServer({ node: standby, readyLagMs: 60_000 }));

  // Nothing has run yet: alive, but neither role is serving.
  assert.equal((await get(`${p}/liveness`)).status, 200);
  const before = await get(`${p}/primary`);
  assert.equal(before.status, 503);
  assert.match(String(before.body.reason), /replicate has not run/);

  const { r } = await startPrimary(
    t,
    cfg,
    SMALL_FLEET.map((e) => e.name),
  );
  await waitFor("replicate running", async () => (await get(`${p}/primary`)).status === 200);
  const h = await get(`${p}/health`);
  assert.equal(h.status, 200);
  assert.equal(h.body.status, "ok");
  assert.equal(h.body.host, "primary");
  assert.equal(h.body.role, "primary");
  assert.ok(!Number.isNaN(Date.parse(String(h.body.ts))));
  assert.equal((h.body.replication as { databases: number }).databases, SMALL_FLEET.length);
  assert.equal((await get(`${p}/standby`)).status, 503, "a primary is not a standby");
  assert.equal((await get(`${p}/readiness`)).status, 200);

  const f = new Follower(cfg, standby, new CountingStore(new FileStore(join(dir, "store"))), {
    log: pino({ level: "silent" }),
    pollMs: 200,
    probeMs: 500,
  });
  f.start();
  try {
    await waitFor(
      "standby following with lag under 10s",
      async () => (await get(`${s}/standby?lag=10s`)).status === 200,
    );
    const sh = await get(`${s}/health`);
    const follow = sh.body.follow as { databases: number; following: number; worstLagMs: number };
    assert.equal(follow.following, follow.databases);
    assert.ok(follow.worstLagMs < 10_000);
    assert.equal((await get(`${s}/primary`)).status, 503);
    assert.equal((await get(`${s}/readiness`)).status, 200);
    const m = await (await fetch(`${s}/metrics`)).text();
    assert.match(m, /understudy_health_standby_ok\{node="standby"\} 1/);
    assert.match(m, /understudy_health_worst_lag_seconds\{node="standby"\} \d/);
    assert.equal((await get(`${s}/standby?lag=soon`)).status, 400);
  } finally {
    await f.stop();
  }
  // A follower that stopped says so (its process may live on, as `run` does as a primary): not a standby at once.
  const gone = await get(`${s}/standby?lag=60s`);
  assert.equal(gone.status, 503);
  assert.match(String(gone.body.reason), /understudy follow \(pid \d+\) stopped following at /);

  await r.stop();
  const stopped = await get(`${p}/primary`);
  assert.equal(stopped.status, 503);
  assert.match(String(stopped.body.reason), /litestream is stopped/);
});

test("the health server keeps answering when state is unreadable, and exposes nothing secret", async (t) => {
  const dir = tempDir(t, "health-bad");
  const secret = "c2VjcmV0LWFjY291bnQta2V5LXZhbHVl";
  process.env.UNDERSTUDY_TEST_HEALTH_KEY = secret;
  t.after(() => {
    delete process.env.UNDERSTUDY_TEST_HEALTH_KEY;
  });
  const { cfg } = await makeFleet(dir, SMALL_FLEET, { create: false });
  const [primary, standby] = cfg.nodes;
  mkdirSync(primary.stateDir, { recursive: true });
  writeFileSync(join(primary.stateDir, "replicate-state.json"), "{ half a file");
  mkdirSync(standby.stateDir, { recursive: true });
  writeFileSync(join(standby.stateDir, "follow-state.json"), "not json");
  const p = await serve(t, new HealthServer({ node: primary, readyLagMs: 60_000 }));
  const s = await serve(t, new HealthServer({ node: standby, readyLagMs: 60_000 }));
  const h = await get(`${p}/health`);
  assert.equal(h.status, 200);
  assert.match(String(h.body.problems), /replicate state unreadable/);
  assert.equal((await get(`${p}/primary`)).status, 503);
  const sh = await get(`${s}/standby?lag=10s`);
  assert.equal(sh.status, 503);
  assert.match(String(sh.body.reason), /follow-state\.json: unreadable/);
  for (const path of ["/health", "/primary", "/standby", "/metrics", "/nope"]) {
    const text = await (await fetch(`${p}${path}`)).text();
    assert.ok(!text.includes(secret), `${path} shows no secret`);
  }
  assert.equal((await fetch(`${p}/nope`)).status, 404);
});
