import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, test } from "node:test";
import { FileStore } from "../src/store/fileStore";
import { NotFoundError, type ReplicaStore } from "../src/store/store";
import { useAzurite } from "./helpers/azurite";
import { ROOT, tempDir } from "./helpers/env";

const azurite = useAzurite();

/** The ReplicaStore contract (src/store/store.ts), run against every backend the same way. */
function contract(name: string, open: (t: { after: (fn: () => void) => void }) => Promise<ReplicaStore>): void {
  describe(`store contract: ${name}`, () => {
    test("a missing key: get throws NotFoundError, the others say undefined, delete succeeds, list is empty", async (t) => {
      const s = await open(t);
      await assert.rejects(s.get("nope/x"), (e) => e instanceof NotFoundError && e.key === "nope/x");
      assert.equal(await s.getIfExists("nope/x"), undefined);
      assert.equal(await s.getVersioned("nope/x"), undefined);
      await s.delete("nope/x");
      const listed = [];
      for await (const o of s.list("nope/")) listed.push(o);
      assert.deepEqual(listed, []);
      assert.equal(await s.replaceIfUnchanged("nope/x", Buffer.from("a"), "etag"), undefined);
      assert.equal(await s.getIfExists("nope/x"), undefined, "a failed conditional write writes nothing");
    });

    test("put, get, list exactly the keys under a prefix, delete", async (t) => {
      const s = await open(t);
      for (const k of ["p/a/1", "p/a/2", "p/ab/3", "p/b/4"]) await s.put(k, Buffer.from(k));
      const keys = [];
      for await (const o of s.list("p/a/")) keys.push([o.key, o.size]);
      assert.deepEqual(keys.sort(), [
        ["p/a/1", 5],
        ["p/a/2", 5],
      ]);
      assert.equal((await s.get("p/ab/3")).toString(), "p/ab/3");
      await s.put("p/ab/3", Buffer.from("replaced"));
      assert.equal((await s.get("p/ab/3")).toString(), "replaced");
      await s.delete("p/ab/3");
      assert.equal(await s.getIfExists("p/ab/3"), undefined);
    });

    test("conditional writes: create only if absent, replace only if unchanged", async (t) => {
      const s = await open(t);
      const e1 = await s.createIfAbsent("lease", Buffer.from("one"));
      assert.ok(e1);
      assert.equal(await s.createIfAbsent("lease", Buffer.from("two")), undefined);
      const v = await s.getVersioned("lease");
      assert.equal(v?.body.toString(), "one");
      assert.equal(v?.etag, e1);
      const e2 = await s.replaceIfUnchanged("lease", Buffer.from("three"), e1);
      assert.ok(e2 && e2 !== e1);
      assert.equal(await s.replaceIfUnchanged("lease", Buffer.from("stale"), e1), undefined);
      assert.equal((await s.get("lease")).toString(), "three");
    });

    test("20 concurrent writers of one key: exactly one create and exactly one replace win", async (t) => {
      const s = await open(t);
      const creates = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.createIfAbsent("race", Buffer.from(`c${i}`))),
      );
      assert.equal(creates.filter(Boolean).length, 1);
      const first = await s.getVersioned("race");
      assert.equal(first?.body.toString(), `c${creates.findIndex(Boolean)}`);
      const replaces = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.replaceIfUnchanged("race", Buffer.from(`r${i}`), first?.etag ?? "")),
      );
      assert.equal(replaces.filter(Boolean).length, 1);
      assert.equal((await s.get("race")).toString(), `r${replaces.findIndex(Boolean)}`);
    });
  });
}

contract("file", async (t) => new FileStore(tempDir(t, "store-file")));
let n = 0;
contract("abs (Azurite)", async () => azurite.container(`contract-${++n}-${process.pid}`));

test("store contract: file store, 10 processes racing to create one key: exactly one wins", async (t) => {
  const root = tempDir(t, "store-procs");
  const script = `const { FileStore } = require(${JSON.stringify(join(ROOT, "dist", "src", "store", "fileStore.js"))});
new FileStore(process.argv[1]).createIfAbsent("lease", Buffer.from(String(process.pid))).then((e) => console.log(e ? "won" : "lost"));`;
  const runs = await Promise.all(
    Array.from(
      { length: 10 },
      () =>
        new Promise<string>((resolve, reject) =>
          execFile(process.execPath, ["-e", script, root], (err, out) => (err ? reject(err) : resolve(out.trim()))),
        ),
    ),
  );
  assert.equal(runs.filter((r) => r === "won").length, 1, runs.join(","));
  assert.equal(runs.filter((r) => r === "lost").length, 9);
});
