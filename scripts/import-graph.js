#!/usr/bin/env node
"use strict";
// Folder-level import graph of src/: which folder imports which, and the cycles between folders.
// Usage: node scripts/import-graph.js [--json]
const { readdirSync, readFileSync, statSync } = require("node:fs");
const { join, dirname, resolve, relative, sep } = require("node:path");

const SRC = resolve(__dirname, "..", "src");

function files(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** The top folder under src/ of a file ("failover/discovery/x.ts" counts as "failover"). */
function folderOf(file) {
  return relative(SRC, file).split(sep)[0];
}

function graph() {
  const edges = new Map();
  for (const f of files(SRC)) {
    const from = folderOf(f);
    const text = readFileSync(f, "utf8");
    for (const m of text.matchAll(/^import[^'"]*from\s+["'](\.[^"']+)["']/gm)) {
      const to = folderOf(resolve(dirname(f), m[1]));
      if (to === from || to.startsWith("..")) continue;
      if (!edges.has(from)) edges.set(from, new Set());
      edges.get(from).add(to);
    }
  }
  return edges;
}

function cycles(edges) {
  const out = [];
  for (const [a, tos] of edges) for (const b of tos) if (a < b && edges.get(b)?.has(a)) out.push([a, b]);
  return out;
}

if (require.main === module) {
  const edges = graph();
  const list = [...edges].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]);
  const cyc = cycles(edges);
  if (process.argv.includes("--json")) console.log(JSON.stringify({ edges: Object.fromEntries(list), cycles: cyc }));
  else {
    for (const [k, v] of list) console.log(`${k.padEnd(10)} → ${v.join(", ")}`);
    console.log(`\n${cyc.length} folder-level cycles${cyc.length ? `: ${cyc.map((c) => c.join(" ⇄ ")).join("; ")}` : ""}`);
  }
}

module.exports = { graph, cycles };
