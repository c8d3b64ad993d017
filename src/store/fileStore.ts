import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { writeFileAtomic } from "../util/atomic";
import type { ReplicaStore, StoredObject } from "./store";

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
        else if (key.startsWith(prefix) && !name.includes(".tmp"))
          out.push({ key, size: st.size, lastModified: st.mtime });
      }
    };
    await walk(dirKey ? this.path(dirKey) : this.root, dirKey);
    yield* out;
  }

  async get(key: string): Promise<Buffer> {
    return readFile(this.path(key));
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
}
