import { execFile } from "node:child_process";
import { join } from "node:path";
import { digestDatabase } from "../fleet/rowHash";

export interface RestoreComparison {
  name: string;
  rows: number;
  primaryHash: string;
  restoredHash: string;
  integrity: string;
  match: boolean;
}

/** Restores one database with the real `litestream restore` and compares its rows with the primary's. */
export async function restoreAndCompare(opts: {
  binary: string;
  litestreamConfig: string;
  dataDir: string;
  name: string;
  outDir: string;
  env?: NodeJS.ProcessEnv;
}): Promise<RestoreComparison> {
  const out = join(opts.outDir, `${opts.name}.restored`);
  await new Promise<void>((resolve, reject) => {
    execFile(
      opts.binary,
      ["restore", "-config", opts.litestreamConfig, "-o", out, join(opts.dataDir, opts.name)],
      { env: opts.env ?? process.env, timeout: 120_000 },
      (err, _stdout, stderr) =>
        err ? reject(new Error(`litestream restore ${opts.name}: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
  const p = digestDatabase(join(opts.dataDir, opts.name));
  const r = digestDatabase(out);
  return {
    name: opts.name,
    rows: r.rows,
    primaryHash: p.hash,
    restoredHash: r.hash,
    integrity: r.integrity,
    match: p.hash === r.hash && r.integrity === "ok",
  };
}
