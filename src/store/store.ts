/** An object in the durable store, keyed by its full path below the store's root. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

/** An object's bytes with its version tag, for a later conditional replace. */
export interface VersionedObject {
  body: Buffer;
  /** Opaque; changes with every write of the object. */
  etag: string;
}

/** `get` of a key that does not exist: the one not-found error every backend throws. */
export class NotFoundError extends Error {
  constructor(readonly key: string) {
    super(`${key}: not found in the store`);
    this.name = "NotFoundError";
  }
}

/**
 * The durable store that Litestream writes replicas to and understudy reads them from.
 * Keys are '/'-separated paths relative to the store root (for abs, the container).
 *
 * The contract every backend keeps (test/store.contract.test.ts runs it against each):
 * - a missing key: `get` throws NotFoundError, `getIfExists` and `getVersioned` return undefined, `delete`
 *   succeeds (deleting is idempotent), `list` of a prefix nothing is under yields nothing;
 * - `list(prefix)` yields exactly the keys that start with `prefix`, each once;
 * - `put` replaces the whole object at once: a reader sees the old bytes or the new, never a mix;
 * - conditional writes are atomic against every other writer of the key, on any machine: of N concurrent
 *   `createIfAbsent` calls for one key exactly one succeeds, and of N `replaceIfUnchanged` calls made with the
 *   same etag exactly one succeeds; the others write nothing and return undefined.
 */
export interface ReplicaStore {
  /** Where it points, safe to print: never holds a credential. */
  describe(): string;
  list(prefix: string): AsyncIterable<StoredObject>;
  /** The object's bytes; NotFoundError when there is none. */
  get(key: string): Promise<Buffer>;
  /** Like get, but a missing object is `undefined` rather than an error: how the follower probes for news. */
  getIfExists(key: string): Promise<Buffer | undefined>;
  put(key: string, body: Buffer): Promise<void>;
  delete(key: string): Promise<void>;
  /** The object with its etag; undefined when there is none. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /** Writes only if the key does not exist: the new etag, or undefined when it existed (nothing written). */
  createIfAbsent(key: string, body: Buffer): Promise<string | undefined>;
  /**
   * Writes only if the object's etag is still `etag`: the new etag, or undefined when it changed or is gone
   * (nothing written).
   */
  replaceIfUnchanged(key: string, body: Buffer, etag: string): Promise<string | undefined>;
}
