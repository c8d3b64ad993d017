import { ClientSecretCredential } from "@azure/identity";
import { BlobServiceClient, type ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { AbsFastGet } from "./absFastGet";
import { NotFoundError, type ReplicaStore, type StoredObject, type VersionedObject } from "./store";

/** The status of an SDK error, or undefined for anything else. */
function status(e: unknown): number | undefined {
  return (e as { statusCode?: number }).statusCode;
}

export interface AbsCredentials {
  accountKey?: string;
  servicePrincipal?: { tenantId: string; clientId: string; clientSecret: string };
}

/** Azure Blob Storage; `endpoint` overrides the account URL so Azurite (or a private endpoint) works. */
export class AbsStore implements ReplicaStore {
  readonly container: ContainerClient;
  private readonly fast: AbsFastGet;

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
    this.fast = new AbsFastGet(
      account,
      endpoint,
      containerName,
      creds.servicePrincipal
        ? { credential: credential as ClientSecretCredential }
        : { accountKey: Buffer.from(creds.accountKey ?? "", "base64") },
    );
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
    const b = await this.fast.get(key);
    if (!b) throw new NotFoundError(key);
    return b;
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    return this.fast.get(key);
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.container.getBlockBlobClient(key).uploadData(body);
  }

  async delete(key: string): Promise<void> {
    await this.container.getBlobClient(key).deleteIfExists();
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    try {
      const r = await this.container.getBlobClient(key).download();
      const chunks: Buffer[] = [];
      for await (const c of r.readableStreamBody as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
      return { body: Buffer.concat(chunks), etag: r.etag ?? "" };
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  /** If-None-Match: * — Azure refuses the write with 409 when the blob exists. */
  async createIfAbsent(key: string, body: Buffer): Promise<string | undefined> {
    try {
      const r = await this.container.getBlockBlobClient(key).uploadData(body, { conditions: { ifNoneMatch: "*" } });
      return r.etag;
    } catch (e) {
      if (status(e) === 409 || status(e) === 412) return undefined;
      throw e;
    }
  }

  /** If-Match: ETAG — Azure refuses with 412 when the blob changed (or is gone). */
  async replaceIfUnchanged(key: string, body: Buffer, etag: string): Promise<string | undefined> {
    try {
      const r = await this.container.getBlockBlobClient(key).uploadData(body, { conditions: { ifMatch: etag } });
      return r.etag;
    } catch (e) {
      if (status(e) === 412 || status(e) === 404) return undefined;
      throw e;
    }
  }

  async ensureContainer(): Promise<void> {
    await this.container.createIfNotExists();
  }
}
