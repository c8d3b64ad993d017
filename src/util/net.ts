import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { type AddressInfo, createServer } from "node:net";

/** A loopback port free right now, for services whose config wants a fixed port (Litestream's metrics). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function splitHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`${what}: "${text}" is not HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`${what}: port ${port} is out of range (0-65535)`);
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

/**
 * Wraps a request handler so that nothing a client sends can stop the server: a throw or a rejection becomes
 * a 500 (or a closed connection when the response had begun), never an exception out of the server.
 */
export function safeHandler(
  handle: (req: IncomingMessage, res: ServerResponse) => unknown,
  onError?: (e: Error) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (res: ServerResponse, e: unknown) => {
    onError?.(e as Error);
    if (res.headersSent) res.destroy();
    else res.writeHead(500, { "content-type": "application/json" }).end('{"error":"internal error"}\n');
  };
  return (req, res) => {
    try {
      const r = handle(req, res);
      if (r instanceof Promise) r.catch((e) => fail(res, e));
    } catch (e) {
      fail(res, e);
    }
  };
}

/** Starts an HTTP server; rejects (instead of throwing later) when the address is taken or not allowed. */
export function listenHttp(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Stops an HTTP server now: idle keep-alive connections would otherwise hold close() open. */
export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/**
 * Why a fetch() failed, in a few words: "no answer within 10s" for its timeout, else the socket's code
 * (ECONNREFUSED, ENOTFOUND, …), else the message. One wording for every caller that reports a failed request.
 */
export function fetchFailure(e: unknown, timeoutMs?: number): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err.name === "TimeoutError") return timeoutMs ? `no answer within ${timeoutMs / 1000}s` : "no answer in time";
  return err.cause?.code ?? err.cause?.message ?? err.message;
}

/** The status a GET of `url` answers with, or 0 when nothing answers in time: for polling a health endpoint. */
export async function httpStatus(url: string, timeoutMs = 3000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}
