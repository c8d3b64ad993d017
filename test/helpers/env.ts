import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(__dirname, "..", "..", "..");
export const BIN = join(ROOT, "bin", "understudy.js");
export const EXAMPLES = join(ROOT, "examples");
export const BAD_CONFIGS = join(ROOT, "test", "fixtures", "bad-configs");

const toRemove: string[] = [];

function removeAtExit(dir: string): void {
  if (!toRemove.length)
    process.once("exit", () => {
      for (const d of toRemove)
        try {
          rmSync(d, { recursive: true, force: true });
        } catch {
          // a leftover temp dir is not worth failing the run for
        }
    });
  toRemove.push(dir);
}

export function tempDir(t: { after: (fn: () => void) => void }, tag = "test"): string {
  const dir = mkdtempSync(join(tmpdir(), `understudy-${tag}-`));
  // UNDERSTUDY_KEEP_TEST_DIRS=1 keeps them for a post-mortem.
  // Removed when the test file's process exits, not in an after-hook: node:test runs a test's after-hooks in the
  // order they were registered, so this one would run before the hooks that stop the daemons writing there —
  // and a removal that throws (a daemon recreating a file) would skip those hooks and leave the daemons running.
  if (!process.env.UNDERSTUDY_KEEP_TEST_DIRS) removeAtExit(dir);
  void t;
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? ROOT, timeout: opts.timeoutMs ?? 120_000 },
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
