import { readFile } from "node:fs/promises";
import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import type { SecretProvider } from "./provider";

export class FileSecretProvider implements SecretProvider {
  readonly scheme = "file";

  async resolve(ref: SecretRef): Promise<string> {
    let text: string;
    try {
      text = await readFile(ref.target, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "error";
      throw new UserError(`secret ${ref.text}: cannot read the file (${code})`);
    }
    const v = text.trim();
    if (!v) throw new UserError(`secret ${ref.text}: the file is empty`);
    return v;
  }
}
