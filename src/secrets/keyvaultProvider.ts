import { ClientSecretCredential, ManagedIdentityCredential, type TokenCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { UserError } from "../config/errors";
import type { SecretRef } from "../config/secretRef";
import type { SecretsConfig } from "../config/secretsConfig";
import type { SecretProvider } from "./provider";

type Resolve = (ref: SecretRef, field: string) => Promise<string>;

/**
 * `keyvault:VAULT/NAME` through Azure's own SDK (@azure/keyvault-secrets): the plan's layer 3. Signs in as the
 * configured service principal, else as the machine's managed identity; the SDK answers Key Vault's challenge
 * (the 401 that names the tenant and resource) itself. Errors say what is wrong in Azure's terms — no such
 * secret, no permission to read it, cannot sign in — and never carry a response body.
 */
export class KeyVaultSecretProvider implements SecretProvider {
  readonly scheme = "keyvault";
  private credential?: TokenCredential;
  private readonly clients = new Map<string, SecretClient>();

  constructor(
    private readonly o: SecretsConfig["keyvault"],
    private readonly resolveRef: Resolve,
  ) {}

  private async signIn(): Promise<TokenCredential> {
    if (this.credential) return this.credential;
    const { tenantId, clientId, clientSecret, authorityHost } = this.o;
    const opts = authorityHost ? { authorityHost, disableInstanceDiscovery: true } : {};
    this.credential =
      tenantId && clientId && clientSecret
        ? new ClientSecretCredential(
            tenantId,
            clientId,
            await this.resolveRef(clientSecret, "secrets.keyvault.client-secret"),
            opts,
          )
        : new ManagedIdentityCredential(clientId ? { clientId } : {});
    return this.credential;
  }

  async resolve(ref: SecretRef): Promise<string> {
    const [vault, name] = ref.target.split("/");
    const url = this.o.vaultUrl.replace("{vault}", vault);
    let client = this.clients.get(url);
    if (!client) {
      client = new SecretClient(url, await this.signIn(), {
        retryOptions: { maxRetries: 2 },
        disableChallengeResourceVerification: !this.o.checkChallengeResource,
      });
      this.clients.set(url, client);
    }
    try {
      const s = await client.getSecret(name);
      if (!s.value) throw new UserError(`the Key Vault secret ${name} in ${vault} has no value`);
      return s.value;
    } catch (e) {
      if (e instanceof UserError) throw e;
      const err = e as Error & { statusCode?: number; code?: string };
      if (err.statusCode === 404) throw new UserError(`no secret "${name}" in the Key Vault ${vault}`);
      if (err.statusCode === 403)
        throw new UserError(
          `this identity may not read "${name}" in the Key Vault ${vault}: give it the Key Vault Secrets User role (or get in an access policy)`,
        );
      if (err.statusCode === 401) throw new UserError(`the Key Vault ${vault} refused the sign-in (401)`);
      if (err.name === "CredentialUnavailableError")
        throw new UserError(
          "no Azure identity here: set secrets.keyvault tenant-id, client-id and client-secret, or run on a machine with a managed identity",
        );
      if (err.name === "AuthenticationError" || err.name === "AuthenticationRequiredError")
        throw new UserError(
          `cannot sign in to Azure AD as ${this.o.clientId ?? "the managed identity"} (${err.code ?? "AuthenticationError"})`,
        );
      throw new UserError(`cannot reach the Key Vault ${vault} at ${url} (${err.code ?? err.name})`);
    }
  }
}
