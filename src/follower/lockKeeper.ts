import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";

/** Takes and releases SQLite's EXCLUSIVE lock on a copy around each apply. */
export interface CopyLocks {
  /** Resolves once readers are shut out; rejects with SQLITE_BUSY (code) when they did not let go in time. */
  lock(path: string, timeoutMs: number): Promise<void>;
  unlock(path: string): Promise<void>;
  /** The copy is closed: drop any connection kept for it. */
  forget(path: string): Promise<void>;
}

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  code?: string;
}

/**
 * The follower's side of the lock keeper (lockKeeperProcess.ts): one child process per follower, started on
 * first use and again after it died. Holding the lock in another process is what lets a kill -9 of the
 * follower leave readers waiting for a clean rollback rather than facing a hot journal.
 */
export class LockKeeper implements CopyLocks {
  private child?: ChildProcess;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly onDeath?: (why: string) => void) {}

  private ensure(): ChildProcess {
    if (this.child?.connected) return this.child;
    const child = fork(join(__dirname, "lockKeeperProcess.js"), [], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      // The follower's environment may carry secrets the keeper has no use for.
      env: { PATH: process.env.PATH ?? "" },
    });
    child.on("message", (m: Reply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve();
      else w.reject(Object.assign(new Error(m.error ?? "lock keeper failed"), { code: m.code }));
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      const why = `lock keeper (pid ${child.pid}) exited with ${signal ?? `code ${code}`}`;
      for (const w of this.waiting.values()) w.reject(new Error(why));
      this.waiting.clear();
      if (!this.stopping) this.onDeath?.(why);
    });
    this.child = child;
    return child;
  }

  private stopping = false;

  private call(op: string, path: string, timeoutMs?: number): Promise<void> {
    const child = this.ensure();
    const id = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      child.send({ id, op, path, timeoutMs });
    });
  }

  lock(path: string, timeoutMs: number): Promise<void> {
    return this.call("lock", path, timeoutMs);
  }

  unlock(path: string): Promise<void> {
    return this.call("unlock", path);
  }

  async forget(path: string): Promise<void> {
    if (this.child?.connected) await this.call("forget", path);
  }

  /** Disconnects; the keeper releases what it holds and exits. Resolves when it has. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.stopping = true;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    if (child.connected) child.disconnect();
    await exited;
    this.stopping = false;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}
