import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "./helpers/env";

const { graph, cycles } = require(join(ROOT, "scripts", "import-graph.js")) as {
  graph: () => Map<string, Set<string>>;
  cycles: (g: Map<string, Set<string>>) => [string, string][];
};

test("layering: config/ is the bottom (it imports only util/), util/ imports nothing, no folder imports the CLI, no cycles", () => {
  const g = graph();
  assert.deepEqual([...(g.get("config") ?? [])].sort(), ["util"]);
  assert.deepEqual([...(g.get("util") ?? [])], []);
  for (const [from, to] of g) assert.ok(!to.has("cli"), `${from} must not import cli/`);
  assert.deepEqual(cycles(g), []);
});
