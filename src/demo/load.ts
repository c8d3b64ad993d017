import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { DEMO_SCHEMA, TASKS_SCHEMA } from "./fleet";

/** Writes rows into every database of a fleet at a steady rate, the way the fleet's daemons would. */
export class LoadWriter {
  private readonly dbs: { name: string; db: Database.Database; insert: Database.Statement }[] = [];
  private timer?: NodeJS.Timeout;
  writes = 0;
  lastWriteAt = new Map<string, number>();
  /** When each row was committed, per database, for end-to-end lag (kept only when asked for). */
  readonly commits = new Map<string, { id: number; at: number }[]>();

  constructor(
    dir: string,
    names: string[],
    private readonly writesPerSecond = 2,
    private readonly rowSize = 256,
    private readonly trackCommits = false,
  ) {
    for (const name of names) {
      const db = new Database(join(dir, name));
      db.pragma("journal_mode = WAL");
      db.pragma("busy_timeout = 5000");
      db.exec(DEMO_SCHEMA);
      this.dbs.push({
        name,
        db,
        insert: db.prepare("INSERT INTO items (created_at, kind, payload) VALUES (?, 'load', ?)"),
      });
    }
  }

  private tasks?: Database.Statement;

  /**
   * Also opens a task in `name` every tick, the way mission-control.db's ledger grows: the plan's drill counts
   * `SELECT count(*) FROM tasks WHERE status='open'`.
   */
  tasksIn(name: string): this {
    const d = this.dbs.find((x) => x.name === name);
    if (!d) return this;
    d.db.exec(TASKS_SCHEMA);
    this.tasks = d.db.prepare("INSERT INTO tasks (title, status, created_at) VALUES (?, 'open', ?)");
    return this;
  }

  start(): void {
    const period = Math.max(5, Math.round(1000 / this.writesPerSecond));
    this.timer = setInterval(() => this.tick(), period);
  }

  tick(): void {
    this.tasks?.run(`task ${this.writes}`, new Date().toISOString());
    for (const d of this.dbs) {
      const r = d.insert.run(new Date().toISOString(), randomBytes(this.rowSize));
      const now = Date.now();
      this.lastWriteAt.set(d.name, now);
      if (this.trackCommits) {
        const list = this.commits.get(d.name) ?? [];
        list.push({ id: Number(r.lastInsertRowid), at: now });
        this.commits.set(d.name, list);
      }
      this.writes++;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.stop();
    for (const d of this.dbs) d.db.close();
  }
}
