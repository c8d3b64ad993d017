import type http from "node:http";
import type { InferenceConfig } from "../config/inferenceTypes";
import { fetchFailure } from "../util/net";
import { fromOllamaChat, fromOllamaGenerate, fromOpenAIChat, TranslationError } from "./anthropicRequest";
import { type Dialect, inBandError, renderFull, replyFromMessage, StreamTranslator } from "./anthropicResponse";
import { HttpError, sendError } from "./httpErrors";
import type { ProxyMetrics } from "./metrics";
import type { Target } from "./router";
import { SseParser } from "./sse";
import type { Attempt } from "./upstream";

type Json = Record<string, unknown>;

/**
 * Claude as a failover target: translates an Ollama or OpenAI chat/generate request to Anthropic's Messages
 * API, sends it with the proxy's key (which never reaches the client or a log), and translates the answer or
 * its stream back. A connection failure or a 5xx before any byte is a retry elsewhere; after the response has
 * begun, a failure is an error in the stream's own format.
 */
export async function sendToClaude(
  d: { cfg: InferenceConfig; metrics: ProxyMetrics; claudeKey: () => Promise<string> },
  target: Extract<Target, { kind: "claude" }>,
  dialect: Dialect | undefined,
  body: Json,
  res: http.ServerResponse,
  abort: AbortSignal,
): Promise<Attempt> {
  if (!dialect) throw new HttpError(503, "Claude cannot serve this endpoint");
  const c = d.cfg.claude;
  let request: ReturnType<typeof fromOllamaChat>;
  try {
    request =
      dialect === "ollama-chat"
        ? fromOllamaChat(body, target.model, c.maxTokens)
        : dialect === "ollama-generate"
          ? fromOllamaGenerate(body, target.model, c.maxTokens)
          : fromOpenAIChat(body, target.model, c.maxTokens);
  } catch (e) {
    if (e instanceof TranslationError) throw new HttpError(400, `cannot send this request to Claude: ${e.message}`);
    throw e;
  }
  const key = await d.claudeKey();
  const startedNs = process.hrtime.bigint();
  const started = performance.now();
  let up: Response;
  try {
    up = await fetch(`${c.baseUrl}/v1/messages`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": key, "anthropic-version": "2023-06-01" },
      body: JSON.stringify(request),
      signal: AbortSignal.any([abort, AbortSignal.timeout(c.timeout)]),
    });
  } catch (e) {
    d.metrics.upstreamErrors.inc({ target: "claude", stage: "connect" });
    return { kind: "retry", why: `${c.baseUrl}: ${fetchFailure(e, c.timeout)}` };
  }
  d.metrics.upstreamLatency.observe({ target: "claude" }, (performance.now() - started) / 1000);
  const openai = dialect === "openai-chat";
  if (!up.ok) {
    const text = await up.text();
    let message = text.slice(0, 500);
    try {
      const e = JSON.parse(text) as { error?: { type?: string; message?: string } };
      if (e.error?.message) message = `${e.error.type ?? "error"}: ${e.error.message}`;
    } catch {
      // not JSON: keep the text
    }
    // The key is the proxy's, not the client's: an auth failure is the proxy's upstream failing.
    const status = up.status === 429 ? 429 : up.status === 529 ? 503 : up.status === 400 ? 400 : 502;
    if (up.status >= 500 && up.status !== 529) return { kind: "retry", why: `claude HTTP ${up.status}: ${message}` };
    return { kind: "done", status: sendError(res, openai, status, `claude answered HTTP ${up.status}: ${message}`) };
  }
  const headers = { "x-understudy-target": `claude ${target.model}` };
  if (!request.stream) {
    const reply = replyFromMessage((await up.json()) as Json);
    res.writeHead(200, { ...headers, "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(renderFull(dialect, reply, startedNs)));
    return { kind: "done", status: 200 };
  }
  const includeUsage = openai && ((body.stream_options ?? {}) as Json).include_usage === true;
  const tr = new StreamTranslator(dialect, startedNs, includeUsage);
  res.writeHead(200, {
    ...headers,
    "content-type": openai ? "text/event-stream" : "application/x-ndjson",
    "cache-control": "no-cache",
  });
  const parser = new SseParser();
  const decoder = new TextDecoder();
  try {
    for await (const chunk of up.body as unknown as AsyncIterable<Uint8Array>) {
      for (const ev of parser.push(decoder.decode(chunk, { stream: true }))) {
        const out = tr.onEvent(ev);
        if (out) res.write(out);
      }
    }
    if (!tr.finished) throw new Error("claude's stream ended before message_stop");
    res.end();
    return { kind: "done", status: 200 };
  } catch (e) {
    d.metrics.upstreamErrors.inc({ target: "claude", stage: "stream" });
    if (!res.destroyed)
      res.end(
        inBandError(openai ? "sse" : "ndjson", `${(e as Error).message}; not retried because the response had begun`),
      );
    return { kind: "done", status: 502 };
  }
}
