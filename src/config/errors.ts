/** One problem a user can fix, located in a file. */
export interface ConfigProblem {
  file: string;
  line?: number;
  column?: number;
  field: string;
  message: string;
}

export function formatProblem(p: ConfigProblem): string {
  const where = p.line ? `${p.file}:${p.line}${p.column ? `:${p.column}` : ""}` : p.file;
  return `${where}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}

import { UserError } from "../util/errors";

export { UserError };

export class ConfigError extends UserError {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      problems.length === 1
        ? formatProblem(problems[0])
        : `${problems.length} problems in the config:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`,
    );
    this.name = "ConfigError";
  }
}
