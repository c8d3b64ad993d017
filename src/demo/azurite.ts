import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UserError } from "../config/errors";

/** Azurite's documented development account: public, fixed, and useless outside a local emulator. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** A real Azurite blob server on a free loopback port, started for tests, the demo and benchmarks. */
export class AzuriteServer {
  private child?: ChildProcess;
  private workdir?: string;
  port = 0;

  /** The server's own pid (tests stop and continue it to play a hanging store). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private host = "127.0.0.1";

  get endpoint(): string {
    return `http://${this.host}:${this.port}/${AZURITE_ACCOUNT}`;
  }

  /** `host`: the address to listen on (default loopback; a test's veth address to reach it from a namespace). */
  async start(opts: { inMemory?: boolean; host?: string } = {}): Promise<void> {
    this.host = opts.host ?? "127.0.0.1";
    let bin: string;
    try {
      bin = join(require.resolve("azurite/package.json"), "..", "dist", "src", "blob", "main.js");
    } catch {
      throw new UserError("azurite is not installed: run npm install (it is a development dependency)");
    }
    this.workdir = mkdtempSync(join(tmpdir(), "understudy-azurite-"));
    const args = [bin, "--blobHost", this.host, "--blobPort", "0", "--disableTelemetry", "--skipApiVersionCheck"];
    args.push(
      "--loose",
      "--silent",
      ...(opts.inMemory === false ? ["--location", this.workdir] : ["--inMemoryPersistence"]),
    );
    const child = spawn(process.execPath, args, { cwd: this.workdir, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const t = setTimeout(() => reject(new Error(`azurite did not start in 30s: ${out.slice(-300)}`)), 30_000);
      child.stdout?.setEncoding("utf8");
      child.stdout?.on("data", (c: string) => {
        out += c;
        const m = /listens on http:\/\/[^:]+:(\d+)/.exec(out);
        if (m) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      child.stderr?.on("data", (c: Buffer) => (out += c.toString()));
      child.once("exit", (code) => {
        clearTimeout(t);
        reject(new Error(`azurite exited with ${code}: ${out.slice(-300)}`));
      });
    });
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (c && c.exitCode === null) {
      await new Promise<void>((r) => {
        c.once("exit", () => r());
        c.kill("SIGTERM");
        setTimeout(() => c.kill("SIGKILL"), 5000).unref();
      });
    }
    if (this.workdir) rmSync(this.workdir, { recursive: true, force: true });
  }
}
