import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import { EnvSecretProvider } from "./envProvider";
import { FileSecretProvider } from "./fileProvider";
import type { SecretProvider } from "./provider";

const providers: SecretProvider[] = [new EnvSecretProvider(), new FileSecretProvider()];

export async function resolveSecret(ref: SecretRef, field: string): Promise<string> {
  const p = providers.find((x) => x.scheme === ref.scheme);
  if (!p) throw new UserError(`${field}: no provider for secret ${ref.text}`);
  try {
    return await p.resolve(ref);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${field}: ${e.message}`);
    throw e;
  }
}
