import { writeFileSync } from "node:fs";
import { LoadWriter } from "./load";

/**
 * An application writing to a node's databases, as its own process: `node writerProcess.js DIR PIDFILE RATE DB…`.
 * It writes its pid to PIDFILE so a demote hook can stop it the way a real one stops the apps; SIGTERM stops it
 * between transactions.
 */
if (require.main === module) {
  const [dir, pidFile, rate, ...names] = process.argv.slice(2);
  const load = new LoadWriter(dir, names, Number(rate));
  // The task ledger the plan's drill counts, when the fleet has it.
  if (names.includes("mission-control.db")) load.tasksIn("mission-control.db");
  writeFileSync(pidFile, String(process.pid));
  load.start();
  process.once("SIGTERM", () => {
    load.close();
    process.exit(0);
  });
}

/** This script's path, to spawn it. */
export const WRITER = __filename;
