import type { ReplicaStore, StoredObject, VersionedObject } from "./store";

export interface StoreOperationCounts {
  list: number;
  get: number;
  getMissing: number;
  put: number;
  delete: number;
  bytesDown: number;
  bytesUp: number;
}

/** Counts every operation and byte through a store: what the follower reports and the benchmarks price. */
export class CountingStore implements ReplicaStore {
  readonly counts: StoreOperationCounts = {
    list: 0,
    get: 0,
    getMissing: 0,
    put: 0,
    delete: 0,
    bytesDown: 0,
    bytesUp: 0,
  };

  constructor(readonly inner: ReplicaStore) {}

  describe(): string {
    return this.inner.describe();
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    // One listing request per 5000 results (Azure's page size), the way the service bills them.
    let n = 0;
    this.counts.list++;
    for await (const o of this.inner.list(prefix)) {
      if (++n % 5000 === 0) this.counts.list++;
      yield o;
    }
  }

  async get(key: string): Promise<Buffer> {
    this.counts.get++;
    const b = await this.inner.get(key);
    this.counts.bytesDown += b.length;
    return b;
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    this.counts.get++;
    const b = await this.inner.getIfExists(key);
    if (b) this.counts.bytesDown += b.length;
    else this.counts.getMissing++;
    return b;
  }

  async put(key: string, body: Buffer): Promise<void> {
    this.counts.put++;
    this.counts.bytesUp += body.length;
    await this.inner.put(key, body);
  }

  async delete(key: string): Promise<void> {
    this.counts.delete++;
    await this.inner.delete(key);
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    this.counts.get++;
    const v = await this.inner.getVersioned(key);
    if (v) this.counts.bytesDown += v.body.length;
    else this.counts.getMissing++;
    return v;
  }

  async createIfAbsent(key: string, body: Buffer): Promise<string | undefined> {
    this.counts.put++;
    this.counts.bytesUp += body.length;
    return this.inner.createIfAbsent(key, body);
  }

  async replaceIfUnchanged(key: string, body: Buffer, etag: string): Promise<string | undefined> {
    this.counts.put++;
    this.counts.bytesUp += body.length;
    return this.inner.replaceIfUnchanged(key, body, etag);
  }
}
