import { ClientSecretCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import type { ReplicaStore, StoredObject } from "./store";

export interface AbsCredentials {
  accountKey?: string;
  servicePrincipal?: { tenantId: string; clientId: string; clientSecret: string };
}

/** Azure Blob Storage; `endpoint` overrides the account URL so Azurite (or a private endpoint) works. */
export class AbsStore implements ReplicaStore {
  readonly container: ContainerClient;

  constructor(
    readonly account: string,
    readonly containerName: string,
    creds: AbsCredentials,
    readonly endpoint = `https://${account}.blob.core.windows.net`,
  ) {
    // The service principal is preferred where both exist: it is what the plan's SP (alai-backup-writer) grants.
    const credential = creds.servicePrincipal
      ? new ClientSecretCredential(
          creds.servicePrincipal.tenantId,
          creds.servicePrincipal.clientId,
          creds.servicePrincipal.clientSecret,
        )
      : new StorageSharedKeyCredential(account, creds.accountKey ?? "");
    const service = new BlobServiceClient(endpoint, credential, {
      retryOptions: { maxTries: 4, retryDelayInMs: 500, maxRetryDelayInMs: 8000, tryTimeoutInMs: 30_000 },
    });
    this.container = service.getContainerClient(containerName);
  }

  describe(): string {
    return `abs://${this.containerName}@${this.account} (${this.endpoint})`;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for await (const b of this.container.listBlobsFlat({ prefix })) {
      yield { key: b.name, size: b.properties.contentLength ?? 0, lastModified: b.properties.lastModified };
    }
  }

  async get(key: string): Promise<Buffer> {
    return this.container.getBlobClient(key).downloadToBuffer();
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    try {
      return await this.container.getBlobClient(key).downloadToBuffer();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return undefined;
      throw e;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.container.getBlockBlobClient(key).uploadData(body);
  }

  async delete(key: string): Promise<void> {
    await this.container.getBlobClient(key).deleteIfExists();
  }

  async ensureContainer(): Promise<void> {
    await this.container.createIfNotExists();
  }
}
