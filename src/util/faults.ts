/**
 * Fault injection for the kill tests, off unless UNDERSTUDY_FAULT_<NAME>_PAUSE_MS is set in the environment:
 * widens a window that is otherwise a few milliseconds (between writing a copy's pages and committing them) so
 * a kill lands inside it on purpose rather than by luck. Read once at start; costs nothing when unset.
 */
const pauses = new Map<string, number>();
for (const [k, v] of Object.entries(process.env)) {
  const m = /^UNDERSTUDY_FAULT_([A-Z_]+)_PAUSE_MS$/.exec(k);
  if (m && Number(v) > 0) pauses.set(m[1], Number(v));
}

export async function faultPause(name: string): Promise<void> {
  const ms = pauses.get(name);
  if (ms) await new Promise((r) => setTimeout(r, ms));
}
