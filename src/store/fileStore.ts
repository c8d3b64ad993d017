import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../util/atomic";
import { DirLock } from "../util/dirLock";
import { NotFoundError, type ReplicaStore, type StoredObject, type VersionedObject } from "./store";

function etagOf(body: Buffer): string {
  return createHash("sha256").update(body).digest("hex").slice(0, 32);
}

/** A local directory as the store: the embedded default, and what Litestream's `file` replica type writes. */
export class FileStore implements ReplicaStore {
  constructor(readonly root: string) {}

  describe(): string {
    return `file://${this.root}`;
  }

  private path(key: string): string {
    if (key.split("/").includes("..")) throw new Error(`store key escapes the store: ${key}`);
    return join(this.root, ...key.split("/"));
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    // Start from the deepest directory the prefix names, so listing one replica never walks the whole store.
    const cut = prefix.lastIndexOf("/");
    const dirKey = cut >= 0 ? prefix.slice(0, cut) : "";
    const out: StoredObject[] = [];
    const walk = async (dir: string, keyBase: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT" || (e as NodeJS.ErrnoException).code === "ENOTDIR") return;
        throw e;
      }
      for (const name of names.sort()) {
        const key = keyBase ? `${keyBase}/${name}` : name;
        if (!key.startsWith(prefix) && !prefix.startsWith(`${key}/`)) continue;
        const p = join(dir, name);
        let st: import("node:fs").Stats;
        try {
          st = await stat(p);
        } catch {
          continue; // removed by retention while we listed
        }
        if (st.isDirectory()) await walk(p, key);
        else if (key.startsWith(prefix) && !name.includes(".tmp") && !name.startsWith(".understudy-"))
          out.push({ key, size: st.size, lastModified: st.mtime });
      }
    };
    await walk(dirKey ? this.path(dirKey) : this.root, dirKey);
    yield* out;
  }

  async get(key: string): Promise<Buffer> {
    const b = await this.getIfExists(key);
    if (!b) throw new NotFoundError(key);
    return b;
  }

  async getIfExists(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.path(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    const p = this.path(key);
    await mkdir(dirname(p), { recursive: true });
    writeFileAtomic(p, body);
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const body = await this.getIfExists(key);
    return body ? { body, etag: etagOf(body) } : undefined;
  }

  async createIfAbsent(key: string, body: Buffer): Promise<string | undefined> {
    return this.exclusively(async () => {
      if (await this.getIfExists(key)) return undefined;
      await this.put(key, body);
      return etagOf(body);
    });
  }

  async replaceIfUnchanged(key: string, body: Buffer, etag: string): Promise<string | undefined> {
    return this.exclusively(async () => {
      const now = await this.getVersioned(key);
      if (!now || now.etag !== etag) return undefined;
      await this.put(key, body);
      return etagOf(body);
    });
  }

  /**
   * Conditional writes take turns under one lock for the store (a SQLite lock on a file in its root, which every
   * process on any machine that mounts the directory honours and which dies with its holder); the read, the
   * check and the atomic rename all happen inside it. Waits asynchronously, so other work goes on meanwhile.
   */
  private async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    mkdirSync(this.root, { recursive: true });
    const deadline = Date.now() + 30_000;
    let lock = DirLock.tryAcquire(this.root, "store");
    while (!lock) {
      if (Date.now() > deadline) throw new Error(`${this.root}: the store's write lock was held for 30s`);
      await new Promise((r) => setTimeout(r, 2 + Math.random() * 5));
      lock = DirLock.tryAcquire(this.root, "store");
    }
    try {
      return await fn();
    } finally {
      lock.release();
    }
  }
}
