import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { LineSplitter, type LitestreamEvent, parseLitestreamLine } from "./events";

export interface SupervisorOptions {
  binary: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  backoffMin: number;
  backoffMax: number;
  /** Secret values that must never leave this process, even inside Litestream's own error text. */
  secrets: string[];
  /** How long a child must live before its restart counter resets. */
  stableAfter?: number;
}

export interface SupervisorEvents {
  event: [LitestreamEvent];
  line: [string];
  spawn: [number];
  exit: [{ code: number | null; signal: NodeJS.Signals | null; restartIn?: number }];
}

/**
 * Keeps one Litestream process alive: restarts it with exponential backoff when it dies,
 * passes SIGTERM through on stop, and turns its log into events.
 */
export class LitestreamSupervisor extends EventEmitter<SupervisorEvents> {
  private child?: ChildProcess;
  private stopping = false;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  restarts = 0;

  constructor(private readonly opts: SupervisorOptions) {
    super();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    this.stopping = false;
    this.launch();
  }

  private redact(line: string): string {
    let out = line;
    for (const s of this.opts.secrets) if (s) out = out.split(s).join("[redacted]");
    return out;
  }

  private launch(): void {
    this.timer = undefined;
    const startedAt = Date.now();
    const child = spawn(this.opts.binary, this.opts.args, { env: this.opts.env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const onLine = (raw: string) => {
      const line = this.redact(raw);
      const e = parseLitestreamLine(line);
      if (e) this.emit("event", e);
      else this.emit("line", line);
    };
    for (const stream of [child.stdout, child.stderr]) {
      const split = new LineSplitter();
      stream?.setEncoding("utf8");
      stream?.on("data", (c: string) => split.push(c, onLine));
      stream?.on("end", () => split.flush(onLine));
    }
    child.on("error", (err) => {
      this.emit("line", `cannot start ${this.opts.binary}: ${err.message}`);
    });
    child.once("spawn", () => this.emit("spawn", child.pid ?? 0));
    child.once("close", (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.stopping) {
        this.emit("exit", { code, signal });
        return;
      }
      const lived = Date.now() - startedAt;
      if (lived >= (this.opts.stableAfter ?? this.opts.backoffMax)) this.failures = 0;
      const delay = Math.min(this.opts.backoffMax, this.opts.backoffMin * 2 ** this.failures);
      this.failures++;
      this.emit("exit", { code, signal, restartIn: delay });
      this.timer = setTimeout(() => {
        this.restarts++;
        this.launch();
      }, delay);
    });
  }

  /** SIGTERM to Litestream (it finishes its current upload and exits), SIGKILL after the grace period. */
  /**
   * SIGTERM, then SIGKILL after `graceMs`. Litestream 0.3 uploads what the WAL holds beyond its last upload on
   * SIGTERM and exits 0: only that exit says everything committed before it is in the store. Resolves with how
   * it ended; undefined when it was not running.
   */
  async stop(graceMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return undefined;
    return new Promise((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
      child.once("close", (code, signal) => {
        clearTimeout(kill);
        resolve({ code, signal });
      });
      child.kill("SIGTERM");
    });
  }
}
