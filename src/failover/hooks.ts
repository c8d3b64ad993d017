import { spawn } from "node:child_process";
import type { Logger } from "pino";

export interface HookResult {
  ok: boolean;
  code: number | null;
  /** The last lines of its output. */
  output: string;
  ms: number;
}

/**
 * Runs an operator's hook (`failover.hooks.promote` / `demote`) through /bin/sh with a timeout, its output
 * logged. A failing hook is reported, never thrown: it must not undo or block the role change it follows.
 */
export function runHook(
  name: string,
  command: string,
  timeoutMs: number,
  env: Record<string, string>,
  log: Logger,
): Promise<HookResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn("/bin/sh", ["-c", command], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const keep = (d: Buffer) => {
      out = (out + d.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const done = (code: number | null, why?: string) => {
      clearTimeout(timer);
      const r: HookResult = {
        ok: code === 0,
        code,
        output: out.trim().split("\n").slice(-10).join("\n"),
        ms: Date.now() - started,
      };
      if (r.ok) log.info({ hook: name, ms: r.ms, output: r.output }, `${name} hook succeeded`);
      else log.error({ hook: name, code, ms: r.ms, output: r.output }, `${name} hook failed${why ? `: ${why}` : ""}`);
      resolve(r);
    };
    child.on("error", (e) => done(null, e.message));
    child.on("exit", (code, signal) =>
      done(code, signal === "SIGKILL" ? `killed after ${timeoutMs / 1000}s` : undefined),
    );
  });
}
