import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { InferenceConfig } from "../config/inferenceTypes";
import { closeHttp, listenHttp, safeHandler } from "../util/net";
import { type Dialect, inBandError } from "./anthropicResponse";
import { sendToClaude } from "./claudeClient";
import { HttpError, sendError } from "./httpErrors";
import type { ProxyMetrics } from "./metrics";
import type { HealthMonitor } from "./monitor";
import { type Capability, type Route, RouteError, type Router, type Target, targetLabel } from "./router";
import { type Attempt, send } from "./upstream";

type Json = Record<string, unknown>;

interface Endpoint {
  capability: Capability;
  dialect?: Dialect;
  openai: boolean;
}

const ROUTED: Record<string, Endpoint> = {
  "/api/chat": { capability: "chat", dialect: "ollama-chat", openai: false },
  "/api/generate": { capability: "generate", dialect: "ollama-generate", openai: false },
  "/api/embed": { capability: "other", openai: false },
  "/api/embeddings": { capability: "other", openai: false },
  "/api/show": { capability: "other", openai: false },
  "/v1/chat/completions": { capability: "chat", dialect: "openai-chat", openai: true },
  "/v1/completions": { capability: "other", openai: true },
  "/v1/embeddings": { capability: "other", openai: true },
};

/** Paths answered here rather than forwarded (besides /v1/models/ID, labelled as "other"). */
const SERVED = new Set(["/", "/metrics", "/api/tags", "/api/ps", "/api/version", "/v1/models"]);

/** A percent-encoded path segment, or a 400 when it is not valid UTF-8 percent-encoding. */
function decodePathPart(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `malformed percent-encoding in the path: ${JSON.stringify(s.slice(0, 80))}`);
  }
}

export const TIER_HEADER = "x-understudy-tier";

export interface ProxyDeps {
  cfg: InferenceConfig;
  monitor: HealthMonitor;
  router: Router;
  metrics: ProxyMetrics;
  log: Logger;
  /** The bearer token clients must send, when one is required. */
  token?: string;
  /** Resolves the Anthropic API key when a request first needs it. */
  claudeKey: () => Promise<string>;
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on("data", (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        reject(new HttpError(413, `request body is larger than ${limit} bytes`));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

const PASS_HEADERS = ["content-type", "cache-control"];

/**
 * An HTTP server that speaks Ollama's API (and its OpenAI-compatible one) and sends each request to the host that
 * should serve it now. A request moves to another target only while no response to it exists; once bytes have
 * reached the client, a failure ends the response with an error in the stream's own format instead.
 */
export class InferenceProxy {
  private readonly server: http.Server;

  constructor(private readonly d: ProxyDeps) {
    this.server = http.createServer(
      safeHandler(
        (req, res) => this.handle(req, res),
        (e) => this.d.log.error({ err: e.message }, "proxy request failed"),
      ),
    );
    this.server.keepAliveTimeout = 65_000;
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return listenHttp(this.server, host, port);
  }

  close(): Promise<void> {
    return closeHttp(this.server);
  }

  private authorized(req: http.IncomingMessage): boolean {
    const token = this.d.token;
    if (!token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "");
    if (!m) return false;
    const a = Buffer.from(m[1].trim());
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    const openai = path.startsWith("/v1/");
    const endpoint = ROUTED[path];
    // Only paths the proxy serves become label values: requests for anything else must not grow /metrics.
    const labels = { endpoint: endpoint || SERVED.has(path) ? path : "other", target: "proxy" };
    this.d.metrics.inflight++;
    let status = 500;
    try {
      status = await this.dispatch(req, res, path, endpoint, labels);
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, `proxy error: ${(e as Error).message}`);
      if (!(e instanceof HttpError)) this.d.log.error({ err: (e as Error).message, path }, "proxy error");
      status = sendError(res, openai, err.status, err.message);
    } finally {
      this.d.metrics.inflight--;
      this.d.metrics.requests.inc({ ...labels, status: String(status) });
    }
  }

  private async dispatch(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    endpoint: Endpoint | undefined,
    labels: { endpoint: string; target: string },
  ): Promise<number> {
    // With a token, everything needs it, / and /metrics too: which hosts are down and where traffic goes is
    // nobody else's business (Prometheus sends it with `authorization: { credentials_file: … }`).
    if (!this.authorized(req)) {
      throw new HttpError(401, "unauthorized: send Authorization: Bearer <token> (the proxy's configured token)");
    }
    if ((req.method === "GET" || req.method === "HEAD") && path === "/") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("Ollama is running");
      return 200;
    }
    if (req.method === "GET" && path === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(this.d.metrics.render(this.d.monitor.snapshot()));
      return 200;
    }
    if (req.method === "GET" && (path === "/api/tags" || path === "/api/ps" || path === "/v1/models"))
      return this.aggregate(res, path);
    if (req.method === "GET" && path.startsWith("/v1/models/"))
      return this.oneModel(res, decodePathPart(path.slice(11)));
    if (req.method === "GET" && path === "/api/version") return this.version(res);
    if (!endpoint) {
      throw new HttpError(
        404,
        `${req.method} ${path} is not forwarded by the understudy proxy (model management such as pull, create or delete goes to a host directly)`,
      );
    }
    if (req.method !== "POST") throw new HttpError(405, `${path} takes POST`);
    const raw = await readBody(req, this.d.cfg.proxy.maxBodyBytes);
    let body: Json;
    try {
      body = JSON.parse(raw.toString("utf8") || "{}");
    } catch (e) {
      throw new HttpError(400, `request body is not JSON: ${(e as Error).message}`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body))
      throw new HttpError(400, "request body must be a JSON object");
    const model = body.model ?? body.name;
    if (typeof model !== "string" || !model) throw new HttpError(400, "model is required");
    const tierHeader = req.headers[TIER_HEADER];
    const tier = Array.isArray(tierHeader) ? tierHeader[0] : tierHeader;
    let route: Route;
    try {
      route = this.d.router.route({ model, tier, capability: endpoint.capability }, this.d.monitor.snapshot());
    } catch (e) {
      if (e instanceof RouteError) throw new HttpError(400, e.message);
      throw e;
    }
    if (route.refusal) throw new HttpError(503, route.refusal);
    if (route.failover) {
      const to = route.targets[0];
      this.d.metrics.failovers.inc({ kind: "rule", to: to ? targetLabel(to) : "none" });
      this.d.log.info({ model, tier, path, reason: route.reason }, "failover");
    }
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    const failures: string[] = [];
    for (const [i, target] of route.targets.entries()) {
      if (i > 0) {
        this.d.metrics.failovers.inc({ kind: "retry", to: targetLabel(target) });
        this.d.log.warn(
          { model, path, to: targetLabel(target), after: failures[failures.length - 1] },
          "retrying elsewhere",
        );
      }
      labels.target = targetLabel(target);
      const attempt =
        target.kind === "ollama"
          ? await this.toOllama(target, path, body, model, req, res, abort.signal)
          : await sendToClaude(this.d, target, endpoint.dialect, body, res, abort.signal);
      if (attempt.kind === "done") return attempt.status;
      failures.push(`${targetLabel(target)}: ${attempt.why}`);
      if (abort.signal.aborted) return 499;
    }
    throw new HttpError(502, `every target failed before answering (${failures.join("; ")})`);
  }

  private async toOllama(
    target: Extract<Target, { kind: "ollama" }>,
    path: string,
    body: Json,
    model: string,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    abort: AbortSignal,
  ): Promise<Attempt> {
    const out = target.model === model ? body : { ...body, model: target.model };
    const started = performance.now();
    let up: Awaited<ReturnType<typeof send>>;
    try {
      up = await send(
        {
          method: "POST",
          url: `${target.baseUrl}${path}`,
          headers: {
            "content-type": "application/json",
            accept: req.headers.accept ?? "*/*",
            "user-agent": req.headers["user-agent"] ?? "understudy-proxy",
          },
          body: Buffer.from(JSON.stringify(out)),
          responseTimeout: this.d.cfg.proxy.responseTimeout,
          connectTimeout: this.d.cfg.proxy.connectTimeout,
        },
        abort,
      );
    } catch (e) {
      const why = (e as Error).message;
      this.d.metrics.upstreamErrors.inc({ target: target.host, stage: "connect" });
      this.d.monitor.reportFailure(target.host, why);
      return { kind: "retry", why };
    }
    this.d.metrics.upstreamLatency.observe({ target: target.host }, (performance.now() - started) / 1000);
    const { res: upRes } = up;
    const status = upRes.statusCode ?? 502;
    if (status === 502 || status === 503 || status === 504) {
      upRes.resume();
      return { kind: "retry", why: `HTTP ${status}` };
    }
    const type = String(upRes.headers["content-type"] ?? "");
    const headers: Record<string, string> = { "x-understudy-target": `${target.host} ${target.model}` };
    for (const h of PASS_HEADERS) if (upRes.headers[h]) headers[h] = String(upRes.headers[h]);
    const streaming = type.includes("ndjson") || type.includes("event-stream");
    if (!streaming) return this.bufferedReply(upRes, res, status, headers, target.host);
    res.writeHead(status, headers);
    return this.pipeStream(upRes, res, type.includes("ndjson") ? "ndjson" : "sse", target.host, status);
  }

  /** Non-streaming answers are small: read them whole so a host dying mid-body gives a clean error, not half JSON. */
  private bufferedReply(
    upRes: http.IncomingMessage,
    res: http.ServerResponse,
    status: number,
    headers: Record<string, string>,
    host: string,
  ): Promise<Attempt> {
    return new Promise((resolve) => {
      const parts: Buffer[] = [];
      upRes.on("data", (c: Buffer) => parts.push(c));
      upRes.on("close", () => {
        if (!upRes.complete) {
          this.d.metrics.upstreamErrors.inc({ target: host, stage: "body" });
          resolve({
            kind: "done",
            status: sendError(
              res,
              res.req.url?.startsWith("/v1/") ?? false,
              502,
              `${host} failed while answering; not retried because it had begun`,
            ),
          });
          return;
        }
        res.writeHead(status, headers);
        res.end(Buffer.concat(parts));
        resolve({ kind: "done", status });
      });
    });
  }

  private pipeStream(
    upRes: http.IncomingMessage,
    res: http.ServerResponse,
    kind: "ndjson" | "sse",
    host: string,
    status: number,
  ): Promise<Attempt> {
    return new Promise((resolve) => {
      let idle: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          upRes.destroy(new Error(`no data from ${host} for ${Math.round(this.d.cfg.proxy.idleTimeout / 1000)} s`));
        }, this.d.cfg.proxy.idleTimeout);
      };
      arm();
      let lastError = "";
      upRes.on("data", (c: Buffer) => {
        arm();
        res.write(c);
      });
      upRes.on("error", (e) => {
        lastError = e.message;
      });
      upRes.on("close", () => {
        clearTimeout(idle);
        if (upRes.complete) {
          res.end();
          resolve({ kind: "done", status });
          return;
        }
        this.d.metrics.upstreamErrors.inc({ target: host, stage: "stream" });
        const why = `${host} failed mid-response${lastError && lastError !== "aborted" ? ` (${lastError})` : ""}; not retried because the response had begun`;
        this.d.log.warn({ host }, why);
        if (!res.destroyed) res.end(inBandError(kind, why));
        resolve({ kind: "done", status: 502 });
      });
    });
  }

  private hostsUp(): { name: string; url: string }[] {
    const health = this.d.monitor.snapshot();
    return this.d.router.hostUrls().filter((h) => health.get(h.name)?.healthy !== false);
  }

  private async fetchJson(url: string): Promise<Json | undefined> {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      return r.ok ? ((await r.json()) as Json) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The models every healthy host has, each listed once (the first host in config order wins a name). */
  private async models(path: "/api/tags" | "/api/ps"): Promise<Json[]> {
    const lists = await Promise.all(this.hostsUp().map((h) => this.fetchJson(`${h.url}${path}`)));
    const seen = new Map<string, Json>();
    for (const l of lists) {
      for (const m of (l?.models as Json[] | undefined) ?? []) {
        const name = String(m.name ?? m.model);
        if (!seen.has(name)) seen.set(name, m);
      }
    }
    return [...seen.values()];
  }

  private async aggregate(res: http.ServerResponse, path: string): Promise<number> {
    const models = await this.models(path === "/api/ps" ? "/api/ps" : "/api/tags");
    const body = path === "/v1/models" ? { object: "list", data: models.map(openaiModel) } : { models };
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
    return 200;
  }

  private async oneModel(res: http.ServerResponse, id: string): Promise<number> {
    const m = (await this.models("/api/tags")).find((x) => String(x.name ?? x.model) === id);
    if (!m) throw new HttpError(404, `model "${id}" not found on any healthy host`);
    res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(openaiModel(m)));
    return 200;
  }

  private async version(res: http.ServerResponse): Promise<number> {
    for (const h of this.hostsUp()) {
      const v = await this.fetchJson(`${h.url}/api/version`);
      if (v?.version) {
        res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify({ version: v.version }));
        return 200;
      }
    }
    throw new HttpError(503, "no healthy host answered /api/version");
  }
}

function openaiModel(m: Json): Json {
  const modified = Date.parse(String(m.modified_at ?? ""));
  return {
    id: String(m.name ?? m.model),
    object: "model",
    created: Number.isFinite(modified) ? Math.floor(modified / 1000) : 0,
    owned_by: "library",
  };
}
