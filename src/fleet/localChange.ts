import { statSync } from "node:fs";

/** Newest modification of a database or its WAL: when it last changed locally. */
export function localChange(path: string): Date | undefined {
  let newest: Date | undefined;
  for (const p of [path, `${path}-wal`]) {
    try {
      const m = statSync(p).mtime;
      if (!newest || m > newest) newest = m;
    } catch {
      // absent: nothing to compare
    }
  }
  return newest;
}
