import { createServer } from "node:net";

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
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port: Number(m[3]) };
}
