/**
 * bench:config — how config loading scales with the fleet. Loads generated configs of growing size and
 * prints time and time per database, beside the baseline it replaces, measured in the same run: the
 * pairwise replica-path check the loader used before (every path against every other, quadratic).
 */
import { parseConfig } from "../src/config/load";

function gen(n: number): string {
  const lines = [
    "version: 1",
    "nodes:",
    "  p: { role: primary, data-dir: /tmp/p }",
    "  s: { role: standby, data-dir: /tmp/s }",
    "store: { type: file, path: /tmp/store }",
    "tiers:",
    "  P1: { retention: 72h, sync-interval: 1s, follow: true }",
    "databases:",
  ];
  for (let i = 0; i < n; i++) lines.push(`  - { name: db-${i}.db, tier: P1, size: 40 KB, writes: low }`);
  return `${lines.join("\n")}\n`;
}

/** The replaced check: each new path compared with every path before it. */
function pairwiseNesting(paths: string[]): number {
  let found = 0;
  const seen: string[] = [];
  for (const p of paths) {
    for (const o of seen) if (o === p || p.startsWith(`${o}/`) || o.startsWith(`${p}/`)) found++;
    seen.push(p);
  }
  return found;
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = process.hrtime.bigint();
  const value = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, value };
}

const sizes = process.argv.includes("--quick") ? [1000, 4000] : [2000, 8000, 16000, 32000];
console.log("databases  config    load (now)   per db     pairwise path check (before)   before / now");
for (const n of sizes) {
  const text = gen(n);
  const load = time(() => parseConfig(text, "bench.yml"));
  const paths = load.value.databases.map((d) => d.replicaPath);
  const pairwise = time(() => pairwiseNesting(paths));
  // What loading cost before: everything it does now (minus its linear check, negligible) plus the pairwise one.
  const before = load.ms + pairwise.ms;
  console.log(
    `${String(n).padStart(9)}  ${`${(text.length / 1024 / 1024).toFixed(2)} MB`.padStart(7)}  ${`${load.ms.toFixed(0)} ms`.padStart(10)}  ${`${((load.ms / n) * 1000).toFixed(0)} µs`.padStart(8)}  ${`${pairwise.ms.toFixed(0)} ms`.padStart(28)}  ${`${(before / load.ms).toFixed(2)}x`.padStart(14)}`,
  );
}
