import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import type { SecretProvider } from "./provider";

export class EnvSecretProvider implements SecretProvider {
  readonly scheme = "env";
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async resolve(ref: SecretRef): Promise<string> {
    const v = this.env[ref.target];
    if (v === undefined || v === "")
      throw new UserError(`secret ${ref.text}: environment variable ${ref.target} is not set`);
    return v;
  }
}
