import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { DirLock } from "../../util/dirLock";
import { checkPointing, DiscoveryError, type DiscoveryProvider } from "./provider";

const BEGIN = "# BEGIN understudy — managed by `understudy discovery point`; edits inside this block are replaced";
const END = "# END understudy";

/** The managed block's entries, and the file around it. */
export function parseHosts(text: string): { before: string; after: string; entries: Map<string, string> } {
  const lines = text.split("\n");
  const b = lines.findIndex((l) => l.startsWith("# BEGIN understudy"));
  const e = b < 0 ? -1 : lines.findIndex((l, i) => i > b && l.startsWith(END));
  const entries = new Map<string, string>();
  if (b < 0 || e < 0) return { before: text, after: "", entries };
  for (const l of lines.slice(b + 1, e)) {
    const [addr, ...names] = l.trim().split(/\s+/);
    if (addr && !addr.startsWith("#")) for (const n of names) entries.set(n, addr);
  }
  return { before: lines.slice(0, b).join("\n"), after: lines.slice(e + 1).join("\n"), entries };
}

export function renderHosts(before: string, after: string, entries: Map<string, string>): string {
  const block = [BEGIN, ...[...entries].sort(([a], [b]) => a.localeCompare(b)).map(([n, a]) => `${a}\t${n}`), END];
  const head = before.replace(/\n*$/, "");
  const tail = after.replace(/^\n*/, "");
  return `${head ? `${head}\n\n` : ""}${block.join("\n")}\n${tail ? `\n${tail}` : ""}`;
}

/**
 * /etc/hosts with a managed block. Writes are atomic (temp file in the same directory, fsync, rename), keep the
 * file's mode, leave everything outside the block alone, and back the previous file up to HOSTS.understudy.bak
 * before each change. A run that dies mid-write leaves the old file whole and at most a temp file, which the
 * next run removes.
 */
export class HostsFileProvider implements DiscoveryProvider {
  readonly kind = "hosts" as const;

  constructor(private readonly file: string) {}

  /** Only under the lock: writers take turns, so any temp file left is a dead run's. */
  private cleanStaleTemps(file: string): void {
    const prefix = `.${basename(file)}.understudy-`;
    for (const f of readdirSync(dirname(file))) if (f.startsWith(prefix)) unlinkSync(join(dirname(file), f));
  }

  async point(name: string, address: string): Promise<string> {
    checkPointing(name, address);
    if (!existsSync(this.file)) throw new DiscoveryError(`${this.file}: no such hosts file`);
    // A symlinked hosts file is updated where it points, not replaced by a regular file.
    const file = realpathSync(this.file);
    let lock: DirLock;
    try {
      // Concurrent runs take turns (each reads the file another just wrote) instead of losing updates.
      lock = DirLock.acquire(dirname(file), "hosts", 30_000);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM" || code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY")
        throw new DiscoveryError(`${this.file}: permission denied; run with sudo, or use --provider command or dns`);
      throw e;
    }
    try {
      return this.pointLocked(file, name, address);
    } finally {
      lock.release();
    }
  }

  private pointLocked(file: string, name: string, address: string): string {
    const text = readFileSync(file, "utf8");
    const { before, after, entries } = parseHosts(text);
    this.cleanStaleTemps(file);
    if (entries.get(name) === address) return `${this.file}: ${name} already points to ${address}; unchanged`;
    const was = entries.get(name);
    entries.set(name, address);
    const next = renderHosts(before, after, entries);
    const mode = statSync(file).mode & 0o777;
    try {
      copyFileSync(file, `${this.file}.understudy.bak`);
      const tmp = join(dirname(file), `.${basename(file)}.understudy-${process.pid}`);
      const fd = openSync(tmp, "w", mode);
      try {
        writeSync(fd, next);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      // Fault injection for the crash test: die with the new file written but not yet in place.
      if (process.env.UNDERSTUDY_FAULT === "hosts-before-rename") process.kill(process.pid, "SIGKILL");
      renameSync(tmp, file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM")
        throw new DiscoveryError(`${this.file}: permission denied; run with sudo, or use --provider command or dns`);
      throw e;
    }
    return `${this.file}: ${name} → ${address}${was ? ` (was ${was})` : ""}; previous file saved as ${this.file}.understudy.bak`;
  }

  async current(name: string): Promise<string | undefined> {
    if (!existsSync(this.file)) return undefined;
    return parseHosts(readFileSync(this.file, "utf8")).entries.get(name);
  }
}
