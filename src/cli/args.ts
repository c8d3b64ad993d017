import { type ParseArgsConfig, parseArgs } from "node:util";
import { UserError } from "../config/errors";
import { DEFAULT_CONFIG_FILE, loadConfig } from "../config/load";
import type { UnderstudyConfig } from "../config/types";

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
    throw new UserError(`understudy ${command}: ${(e as Error).message}. See understudy ${command} --help`);
  }
}

export function config(values: { config?: string | boolean }): UnderstudyConfig {
  return loadConfig(String(values.config ?? DEFAULT_CONFIG_FILE));
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
