/** One line of Litestream's JSON log (logging.type: json), reduced to what understudy acts on. */
export interface LitestreamEvent {
  time: Date;
  level: "DEBUG" | "INFO" | "WARN" | "ERROR";
  msg: string;
  /** Absolute database path, when the line is about one database. */
  db?: string;
  replica?: string;
  /** generation/index:offset, both hex. */
  position?: string;
  generation?: string;
  size?: number;
  error?: string;
  raw: Record<string, unknown>;
}

export function parseLitestreamLine(line: string): LitestreamEvent | undefined {
  const t = line.trim();
  if (!t.startsWith("{")) return undefined;
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (typeof o.msg !== "string") return undefined;
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : undefined);
  const position = str("position");
  return {
    time: typeof o.time === "string" ? new Date(o.time) : new Date(),
    level: (str("level") ?? "INFO").toUpperCase() as LitestreamEvent["level"],
    msg: o.msg,
    db: str("db") ?? (o.msg === "initialized db" ? str("path") : undefined),
    replica: str("replica"),
    position,
    generation: str("generation") ?? position?.split("/")[0],
    size: typeof o.sz === "number" ? o.sz : undefined,
    error: str("error"),
    raw: o,
  };
}

/** Splits a stream's chunks into whole lines. */
export class LineSplitter {
  private rest = "";
  push(chunk: string, onLine: (line: string) => void): void {
    const parts = (this.rest + chunk).split("\n");
    this.rest = parts.pop() ?? "";
    for (const p of parts) if (p.trim()) onLine(p);
  }
  flush(onLine: (line: string) => void): void {
    if (this.rest.trim()) onLine(this.rest);
    this.rest = "";
  }
}
