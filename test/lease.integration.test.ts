import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Lease, LeaseHeldError, LeaseLostError } from "../src/failover/lease";
import { readManifest } from "../src/replica/manifest";
import { FileStore } from "../src/store/fileStore";
import type { ReplicaStore } from "../src/store/store";
import { useAzurite } from "./helpers/azurite";
import { cli, tempDir, waitFor } from "./helpers/env";
import { extendConfig, makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";

const azurite = useAzurite();

function leaseContract(name: string, open: (t: { after: (fn: () => void) => void }) => Promise<ReplicaStore>): void {
  describe(`lease on ${name}`, () => {
    test("50 nodes race for the lease: exactly one holds it, the others are told who", async (t) => {
      const store = await open(t);
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          new Lease(store, "litestream/", `node-${i}`, { ttlMs: 15_000, maxSkewMs: 1000 }).acquire(),
        ),
      );
      const won = results.filter((r) => r.status === "fulfilled");
      assert.equal(won.length, 1);
      const holder = (won[0] as PromiseFulfilledResult<{ holder: string; epoch: number }>).value;
      assert.equal(holder.epoch, 1);
      for (const r of results.filter((x) => x.status === "rejected"))
        assert.ok(
          (r as PromiseRejectedResult).reason instanceof LeaseHeldError &&
            (r as PromiseRejectedResult).reason.record.holder === holder.holder,
        );
    });

    test("expiry hands the lease on with the next epoch; the old holder's renewal fails and says to whom", async (t) => {
      const store = await open(t);
      let now = Date.parse("2026-11-30T00:00:00Z");
      const clock = () => now;
      const a = new Lease(store, "litestream/", "anvil", { ttlMs: 15_000, maxSkewMs: 1000, now: clock });
      const b = new Lease(store, "litestream/", "forge", { ttlMs: 15_000, maxSkewMs: 1000, now: clock });
      assert.equal((await a.acquire()).epoch, 1);
      now += 10_000;
      await assert.rejects(b.acquire(), LeaseHeldError);
      assert.equal((await a.renew()).epoch, 1, "renewal keeps the epoch");
      now += 15_500;
      await assert.rejects(b.acquire(), LeaseHeldError, "within the skew allowance after expiry it is still held");
      now += 1000;
      const taken = await b.acquire();
      assert.equal(taken.epoch, 2);
      await assert.rejects(a.renew(), (e) => e instanceof LeaseLostError && e.record?.holder === "forge");
      await assert.rejects(a.acquire(), LeaseHeldError);
      await b.release();
      now += 1001;
      assert.equal((await a.acquire()).epoch, 3, "a released lease is free at once (after the skew) and moves on");
    });
  });
}

leaseContract("the file store", async (t) => new FileStore(tempDir(t, "lease-file")));
let n = 0;
leaseContract("Azure (Azurite)", async () => azurite.container(`lease-${++n}-${process.pid}`));

test("fencing: when another node takes the lease, the primary stops Litestream and runs its demote hook before the lease could expire; nothing more reaches the store; restarting it is refused", async (t) => {
  const dir = tempDir(t, "fencing");
  const entries = SMALL_FLEET.slice(0, 2);
  const names = entries.map((e) => e.name);
  const { file } = await makeFleet(dir, entries);
  const marker = join(dir, "demoted");
  const cfg = extendConfig(
    file,
    `failover:
  lease-ttl: 6s
  hooks: { demote: "echo $UNDERSTUDY_NODE > ${marker}" }`,
  );
  const { r, load } = await startPrimary(t, cfg, names, 10);
  await waitFor("uploads", () => r.state.databases.every((d) => d.uploads >= 2));
  assert.equal(r.state.lease?.holder, "primary");
  assert.equal(r.state.lease?.epoch, 1);
  const store = new FileStore(join(dir, "store"));
  await waitFor(
    "the manifest, carrying the epoch",
    async () => (await readManifest(store, "litestream/"))?.epoch === 1,
  );

  // The standby takes over (as promotion will, with --force while the primary still holds it).
  const taker = new Lease(store, "litestream/", "standby", { ttlMs: 6000, maxSkewMs: 1000 });
  const takenAt = Date.now();
  assert.equal((await taker.acquire({ force: true })).epoch, 2);
  await waitFor("the primary to fence itself", () => r.state.litestream.status === "fenced", 20_000);
  const fencedAfter = Date.now() - takenAt;
  assert.ok(fencedAfter < 6000, `fenced ${fencedAfter} ms after the lease changed hands, within the TTL`);
  await waitFor("the demote hook", () => existsSync(marker), 20_000);
  assert.equal(readFileSync(marker, "utf8").trim(), "primary", "the demote hook ran");
  assert.equal(r.state.lease?.superseded, true);
  assert.match(r.state.lease?.fenced ?? "", /standby took the lease at epoch 2/);
  // The load keeps writing on the fenced primary: nothing of it reaches the store.
  const walFiles = () =>
    names.flatMap((n) => {
      const base = join(dir, "store", "litestream", n.replace(/\.db$/, ""), "generations");
      return existsSync(base)
        ? readdirSync(base).flatMap((g) => (existsSync(join(base, g, "wal")) ? readdirSync(join(base, g, "wal")) : []))
        : [];
    });
  const before = walFiles().length;
  await new Promise((res) => setTimeout(res, 3000));
  assert.equal(walFiles().length, before, "no upload after the fence");
  assert.equal((await readManifest(store, "litestream/"))?.epoch, 1, "a fenced node publishes no positions");
  load.stop();
  await r.stop();
  // launchd's KeepAlive restarts it: refused, with what to do.
  const again = await cli(["replicate", "--config", file, "--metrics-listen", ""]);
  assert.equal(again.code, 2, again.stderr);
  assert.match(
    again.stderr,
    /was superseded: standby holds the lease at epoch 2, after this node's epoch 1.*understudy rejoin/,
  );
});
