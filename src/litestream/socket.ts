import { request } from "node:http";

/**
 * A request to Litestream 0.5's control socket (HTTP over a Unix socket): the JSON it answers. Rejects when the
 * socket does not answer within `timeoutMs`, or with Litestream's own error text on a non-2xx answer (a database
 * it has not opened yet is 409, an unknown one 404).
 */
export function socketRequest<T>(
  socketPath: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      {
        socketPath,
        method,
        path,
        headers: payload ? { "content-type": "application/json", "content-length": payload.length } : {},
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => {
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            return reject(new Error(`litestream socket ${path}: not JSON (HTTP ${res.statusCode})`));
          }
          if ((res.statusCode ?? 500) >= 300)
            return reject(
              new Error(
                `litestream socket ${path}: HTTP ${res.statusCode}: ${(json as { error?: string }).error ?? text}`,
              ),
            );
          resolve(json as T);
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`litestream socket ${path}: no answer in ${timeoutMs}ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

/** What POST /sync answers: the database's own TXID and the replica's (what the store has). */
export interface SyncAnswer {
  status: "synced" | "synced_local" | "no_change";
  path: string;
  txid: number;
  replicated_txid: number;
}

/**
 * Asks Litestream to sync one database and says where it and its replica stand. With `wait`, Litestream returns
 * only once the replica has everything the database had (up to `timeoutS`): how a stop or a switchover knows
 * every commit was uploaded.
 */
export function syncDatabase(socketPath: string, dbPath: string, wait: boolean, timeoutS = 30): Promise<SyncAnswer> {
  return socketRequest<SyncAnswer>(
    socketPath,
    "POST",
    "/sync",
    { path: dbPath, wait, ...(wait ? { timeout: timeoutS } : {}) },
    (wait ? timeoutS + 5 : 5) * 1000,
  );
}
