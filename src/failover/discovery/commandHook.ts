import { execFile } from "node:child_process";
import { checkPointing, DiscoveryError, type DiscoveryProvider } from "./provider";

/**
 * The operator's own script does the switch (a Tailscale admin API call for a device IP swap, a Cloudflare
 * record, an SSH to a router): it is run as `COMMAND NAME ADDRESS` without a shell, with UNDERSTUDY_NAME and
 * UNDERSTUDY_ADDRESS in its environment, and must exit 0. Its last stderr lines explain a failure.
 */
export class CommandHookProvider implements DiscoveryProvider {
  readonly kind = "command" as const;

  constructor(
    private readonly command: string,
    private readonly timeoutMs = 60_000,
  ) {}

  point(name: string, address: string): Promise<string> {
    checkPointing(name, address);
    return new Promise((resolve, reject) => {
      execFile(
        this.command,
        [name, address],
        { timeout: this.timeoutMs, env: { ...process.env, UNDERSTUDY_NAME: name, UNDERSTUDY_ADDRESS: address } },
        (err, stdout, stderr) => {
          if (err) {
            const tail = stderr.trim().split("\n").slice(-3).join(" | ");
            const why =
              (err as NodeJS.ErrnoException).code === "ENOENT"
                ? "not found"
                : err.killed
                  ? `killed after ${this.timeoutMs / 1000}s`
                  : `exit ${err.code}`;
            reject(new DiscoveryError(`${this.command} ${name} ${address}: ${why}${tail ? `: ${tail}` : ""}`));
            return;
          }
          resolve(
            `${this.command} ${name} ${address}: ok${stdout.trim() ? ` (${stdout.trim().split("\n").pop()})` : ""}`,
          );
        },
      );
    });
  }

  async current(): Promise<string | undefined> {
    return undefined; // only the script knows; status shows what understudy last asked it
  }
}
