import { runDemo } from "../demo/runDemo";
import { formatSize } from "../util/size";
import { renderTable } from "../util/table";
import { COMMON, parse, printJson } from "./args";
import { followRows, followSummary } from "./followCommands";
import { numberArg } from "./opsArgs";
import { statusRows } from "./replicateCommands";

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      ...COMMON,
      scale: { type: "string", default: "0.002" },
      seconds: { type: "string", default: "12" },
      azurite: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      litestream: { type: "string" },
    },
    "demo",
  );
  const tty = process.stderr.isTTY && !values.json;
  const r = await runDemo({
    scale: numberArg(values.scale, "scale", { min: 0.0001, max: 10 }) as number,
    seconds: numberArg(values.seconds, "seconds", { min: 1, max: 86_400 }) as number,
    azurite: !!values.azurite,
    keep: !!values.keep,
    litestream: values.litestream,
    progress: (line, final) => {
      if (values.json) return;
      if (tty) process.stderr.write(`\r\x1b[2K${line}${final ? "\n" : ""}`);
      else if (final) process.stderr.write(`${line}\n`);
    },
  });
  if (tty) process.stderr.write("\r\x1b[2K");
  if (values.json) {
    printJson(r);
    return r.ok ? 0 : 1;
  }
  console.log(`\nstatus (understudy status):\n`);
  console.log(renderTable(statusRows(r.state)));
  console.log(`\nstandby (understudy status on the standby):\n`);
  console.log(followSummary(r.follow));
  console.log(renderTable(followRows(r.follow)));
  const eq = r.standbyEqual.filter((e) => e.equal).length;
  const s = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)}s` : "-");
  console.log(
    `\nstandby copies with the primary's rows: ${eq}/${r.standbyEqual.length}; end-to-end lag (primary commit to visible on the standby) while writing: p50 ${s(r.lag.p50)}, p99 ${s(r.lag.p99)}, max ${s(r.lag.max)} (${r.lag.samples} samples)`,
  );
  for (const e of r.standbyEqual.filter((x) => !x.equal)) console.log(`  DIFFERS: ${e.name}`);
  const v = r.verify;
  const bad = v.rows.filter((x) => x.status !== "ok");
  console.log(`\nverify (understudy verify) of ${v.store}: ${v.rows.length - bad.length}/${v.rows.length} replicas ok`);
  for (const b of bad) console.log(`  ${b.name}: ${b.status} ${b.detail}`);
  console.log("\nrestore check (litestream restore, rows compared by hash):");
  for (const x of r.restores)
    console.log(
      `  ${x.match ? "ok  " : "FAIL"} ${x.name}: ${x.rows} rows, integrity ${x.integrity}, ${x.match ? "same rows as the primary" : `primary ${x.primaryHash.slice(0, 12)} ≠ restored ${x.restoredHash.slice(0, 12)}`}`,
    );
  const ls = r.litestream;
  console.log(
    `\n${r.databases} databases (${formatSize(r.fleetBytes)}) replicated to ${r.store} by Litestream ${ls?.version ?? "?"} (${ls?.path ?? "?"}, ${ls?.source ?? "?"}); every first snapshot within ${r.secondsToAllSnapshots?.toFixed(1) ?? "—"}s; ${ls?.family === "0.5" ? `${r.writes} position changes uploaded` : `${r.writes} WAL segments uploaded`}.`,
  );
  console.log(r.kept ? `kept in ${r.dir}` : "temporary directory removed (pass --keep to look inside)");
  console.log(r.ok ? "demo: ok" : "demo: FAILED");
  return r.ok ? 0 : 1;
}
