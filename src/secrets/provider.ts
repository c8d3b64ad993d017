import type { SecretRef } from "../config/secretRef";

/** Resolves one kind of secret reference at run time. */
export interface SecretProvider {
  readonly scheme: string;
  resolve(ref: SecretRef): Promise<string>;
}
