import { UserError } from "../config/errors";
import { importCommand, initCommand, renderCommand, validateCommand } from "./configCommands";
import { demoCommand } from "./demoCommand";
import { discoveryCommand } from "./discoveryCommands";
import { doctorCommand } from "./doctorCommand";
import { drillCommand } from "./drillCommand";
import { promoteCommand, rejoinCommand, runCommand, switchoverCommand } from "./failoverCommands";
import { costCommand, discoverCommand } from "./fleetCommands";
import { followCommand, restoreCommand } from "./followCommands";
import { healthCommand } from "./healthCommands";
import { heartbeatCommand } from "./heartbeatCommands";
import { HELP } from "./help";
import { inferenceCommand } from "./inferenceCommands";
import { replicateCommand, statusCommand, verifyCommand } from "./replicateCommands";
import { secretsCommand } from "./secretsCommands";

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  demo: demoCommand,
  init: initCommand,
  validate: validateCommand,
  discover: discoverCommand,
  import: importCommand,
  render: renderCommand,
  replicate: replicateCommand,
  status: statusCommand,
  verify: verifyCommand,
  follow: followCommand,
  restore: restoreCommand,
  cost: costCommand,
  inference: inferenceCommand,
  health: healthCommand,
  heartbeat: heartbeatCommand,
  discovery: discoveryCommand,
  doctor: doctorCommand,
  promote: promoteCommand,
  rejoin: rejoinCommand,
  switchover: switchoverCommand,
  run: runCommand,
  drill: drillCommand,
  secrets: secretsCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(HELP[rest[0] ?? ""] ?? HELP.main);
    return cmd ? 0 : 2;
  }
  if (cmd === "--version") {
    console.log(require("../../../package.json").version);
    return 0;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    console.error(`understudy: unknown command "${cmd}"\n\n${HELP.main}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(HELP[cmd]);
    return 0;
  }
  try {
    return await run(rest);
  } catch (e) {
    if (e instanceof UserError) {
      console.error(`understudy ${cmd}: ${e.message}`);
      return e.exitCode;
    }
    // Anything else is a bug or an environment failure: say what failed in one line, keep the trace for debugging.
    console.error(`understudy ${cmd}: failed: ${(e as Error).message ?? e}`);
    if (process.env.UNDERSTUDY_DEBUG) console.error((e as Error).stack);
    return 3;
  }
}
