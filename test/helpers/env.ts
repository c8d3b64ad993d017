import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(__dirname, "..", "..", "..");
export const BIN = join(ROOT, "bin", "understudy.js");
export const EXAMPLES = join(ROOT, "examples");
export const BAD_CONFIGS = join(ROOT, "test", "fixtures", "bad-configs");

export function tempDir(t: { after: (fn: () => void) => void }, tag = "test"): string {
  const dir = mkdtempSync(join(tmpdir(), `understudy-${tag}-`));
  // UNDERSTUDY_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
  // A daemon still writing there must not make the removal throw: the test's other after-hooks would be skipped.
  if (!process.env.UNDERSTUDY_KEEP_TEST_DIRS)
    t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? ROOT, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

/** Polls until `fn` returns a truthy value; the limit is generous so a slow machine never fails a test. */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  limitMs = 90_000,
  everyMs = 200,
): Promise<NonNullable<T>> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
