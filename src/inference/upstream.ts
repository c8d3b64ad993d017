import http from "node:http";
import https from "node:https";

/** Outcome of one attempt: finished (well or with an error the client already got), or safe to try elsewhere. */
export type Attempt = { kind: "done"; status: number } | { kind: "retry"; why: string };

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 256 }),
};

export interface UpstreamCall {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Buffer;
  responseTimeout: number;
  /** How long a new TCP connection may take: a frozen or partitioned host drops SYNs rather than refusing. */
  connectTimeout: number;
}

/**
 * Sends a request and resolves with the response once its headers arrive, or rejects with a reason when the
 * connection fails first. Until then nothing of the response exists, so the caller may safely try another host.
 */
export function send(
  call: UpstreamCall,
  abort: AbortSignal,
): Promise<{ res: http.IncomingMessage; req: http.ClientRequest }> {
  return new Promise((resolve, reject) => {
    const u = new URL(call.url);
    const lib = u.protocol === "https:" ? https : http;
    const req = lib.request(
      u,
      {
        method: call.method,
        headers: { ...call.headers, ...(call.body ? { "content-length": String(call.body.length) } : {}) },
        agent: u.protocol === "https:" ? agents.https : agents.http,
      },
      (res) => {
        clearTimeout(timer);
        resolve({ res, req });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response within ${Math.round(call.responseTimeout / 1000)} s`));
    }, call.responseTimeout);
    req.on("socket", (socket) => {
      if (!socket.connecting) return;
      const t = setTimeout(
        () => req.destroy(new Error(`no connection within ${call.connectTimeout} ms`)),
        call.connectTimeout,
      );
      socket.once("connect", () => clearTimeout(t));
      socket.once("close", () => clearTimeout(t));
    });
    const onAbort = () => req.destroy(new Error("client went away"));
    abort.addEventListener("abort", onAbort, { once: true });
    req.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      abort.removeEventListener("abort", onAbort);
      reject(
        new Error(e.code && e.code !== "ERR_STREAM_DESTROYED" ? `${e.code} ${call.url}` : `${e.message} (${call.url})`),
      );
    });
    req.end(call.body);
  });
}
