export interface SseEvent {
  event?: string;
  data: string;
}

/** Incremental parser for text/event-stream: feed chunks as they arrive, get whole events back. */
export class SseParser {
  private buf = "";

  push(chunk: string): SseEvent[] {
    this.buf += chunk.replace(/\r\n/g, "\n");
    const out: SseEvent[] = [];
    for (let end = this.buf.indexOf("\n\n"); end >= 0; end = this.buf.indexOf("\n\n")) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      let event: string | undefined;
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length || event) out.push({ event, data: data.join("\n") });
    }
    return out;
  }
}

export function sseData(obj: unknown): string {
  return `data: ${typeof obj === "string" ? obj : JSON.stringify(obj)}\n\n`;
}
