import { existsSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import pino, { type Logger } from "pino";
import { UserError } from "../config/errors";
import { DEFAULT_CONFIG_FILE, loadConfig } from "../config/load";
import type { UnderstudyConfig } from "../config/types";
import { configureSecrets } from "../secrets/resolve";
import { writeFileAtomic } from "../util/atomic";
import { splitHostPort } from "../util/net";

export const COMMON = {
  config: { type: "string", default: DEFAULT_CONFIG_FILE },
  json: { type: "boolean", default: false },
  node: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parse<O extends Options>(argv: string[], options: O, command: string) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // main() prefixes every error with "understudy COMMAND:" already.
    throw new UserError(`${(e as Error).message}. See understudy ${command} --help`);
  }
}

/**
 * The first positional argument, found before parsing (a subcommand that decides which options are valid):
 * the values of the string options in `optionSets` are skipped.
 */
export function firstPositional(argv: string[], ...optionSets: Options[]): string | undefined {
  const valued = new Set<string>();
  for (const set of optionSets)
    for (const [name, o] of Object.entries(set)) {
      if (o.type !== "string") continue;
      valued.add(`--${name}`);
      if (o.short) valued.add(`-${o.short}`);
    }
  return argv.find((a, i) => !a.startsWith("-") && !(i > 0 && valued.has(argv[i - 1])));
}

export function config(values: { config?: string | boolean }): UnderstudyConfig {
  const cfg = loadConfig(String(values.config ?? DEFAULT_CONFIG_FILE));
  configureSecrets(cfg.secrets);
  return cfg;
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** The structured JSON log every long-running role writes to stderr. */
export function daemonLog(base: Record<string, string>): Logger {
  return pino({ base }, pino.destination({ dest: 2, sync: true }));
}

/** Resolves with the signal's name when the process is asked to stop (SIGTERM from a service manager, ^C). */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

/** A HOST:PORT from a flag or the config; a malformed one is the user's input error. */
export function listenAddress(text: string, what: string): { host: string; port: number } {
  try {
    return splitHostPort(text, what);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/**
 * A file the user named for a command to write (-o, --state): a directory given as the file, or a path under a
 * regular file, is the user's input error, said in one line.
 */
export function checkOutputPath(path: string, flag: string): void {
  const abs = resolve(path);
  if (existsSync(abs) && statSync(abs).isDirectory())
    throw new UserError(`${flag} ${path}: is a directory; name a file`);
  let dir = dirname(abs);
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) throw new UserError(`${flag} ${path}: ${dir} is a file, not a directory`);
}

/** Writes a file the user named (atomically); any failure is one line naming it. */
export function writeOutput(path: string, data: string, flag: string, mode?: number): void {
  checkOutputPath(path, flag);
  try {
    writeFileAtomic(path, data, mode);
  } catch (e) {
    throw new UserError(
      `${flag} ${path}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}
