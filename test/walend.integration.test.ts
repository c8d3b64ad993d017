import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { committedWalEnd, walUploaded } from "../src/replicate/walEnd";
import { tempDir, waitFor } from "./helpers/env";
import { makeFleet, SMALL_FLEET, startPrimary } from "./helpers/fleet";

test("walUploaded: against the real Litestream, false while a commit in the WAL is not uploaded, true once its position covers the WAL's last commit", async (t) => {
  const dir = tempDir(t, "walend");
  const { cfg } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const { r, load } = await startPrimary(t, cfg, ["mission-control.db"], 20);
  const path = join(cfg.nodes[0].dataDir, "mission-control.db");
  const d = () => r.dbs.get(path);
  await waitFor("uploads", () => (d()?.uploads ?? 0) >= 2);
  load.stop();
  const end = committedWalEnd(path);
  assert.ok(end && end.end > 32, "the WAL holds commits");
  load.tick(); // one more commit, right now: Litestream cannot have uploaded it yet
  const after = committedWalEnd(path);
  assert.ok(after && (after.end > (end?.end ?? 0) || after.salt1 !== end?.salt1), "the new commit moved the WAL's end");
  assert.equal(walUploaded(path, d()?.position, after), false, "not uploaded the instant it is committed");
  await waitFor("Litestream to upload it", () => walUploaded(path, d()?.position, after), 30_000);
  assert.equal(walUploaded(path, d()?.position), true, "and everything the WAL holds now");
  assert.equal(walUploaded(path, undefined, after), false, "no position: nothing known to be uploaded");
});
