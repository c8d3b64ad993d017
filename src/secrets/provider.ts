import type { SecretRef } from "./ref";

/** Resolves one kind of secret reference at run time. */
export interface SecretProvider {
  readonly scheme: string;
  resolve(ref: SecretRef): Promise<string>;
}
