/** An object in the durable store, keyed by its full path below the store's root. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/**
 * The durable store that Litestream writes replicas to and understudy reads them from.
 * Keys are '/'-separated paths relative to the store root (for abs, the container).
 */
export interface ReplicaStore {
  /** Where it points, safe to print: never holds a credential. */
  describe(): string;
  list(prefix: string): AsyncIterable<StoredObject>;
  get(key: string): Promise<Buffer>;
  /** Like get, but a missing object is `undefined` rather than an error: how the follower probes for news. */
  getIfExists(key: string): Promise<Buffer | undefined>;
  put(key: string, body: Buffer): Promise<void>;
  delete(key: string): Promise<void>;
}
