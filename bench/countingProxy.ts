import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A pass-through HTTP proxy in front of the blob store that counts what a standby asks of it, by kind (GET of a
 * blob, GET that found nothing, LIST, HEAD, PUT, DELETE) and the bytes sent back: the same count for any client,
 * ours or Litestream's own, which has no counters of its own to read.
 */
export class CountingProxy {
  counts: Record<string, number> = {};
  bytesDown = 0;
  private server?: Server;

  constructor(private readonly target: URL) {}

  /** Starts it; resolves to the base URL that replaces the target's (same path). */
  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const list = /[?&]comp=list/.test(req.url ?? "");
      const up = request(
        {
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.target.host },
        },
        (r) => {
          const kind =
            req.method === "GET"
              ? list
                ? "LIST"
                : r.statusCode === 404
                  ? "GET (missing)"
                  : "GET"
              : (req.method ?? "?");
          this.counts[kind] = (this.counts[kind] ?? 0) + 1;
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.on("data", (c: Buffer) => {
            this.bytesDown += c.length;
          });
          r.pipe(res);
        },
      );
      up.on("error", () => res.writeHead(502).end());
      req.pipe(up);
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    const port = (this.server.address() as AddressInfo).port;
    return `http://127.0.0.1:${port}${this.target.pathname.replace(/\/$/, "")}`;
  }

  snapshot(): { counts: Record<string, number>; bytesDown: number } {
    return { counts: { ...this.counts }, bytesDown: this.bytesDown };
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
