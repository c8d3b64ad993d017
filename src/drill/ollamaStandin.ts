/**
 * A stand-in for Ollama: a real HTTP server speaking the parts of Ollama's documented API the proxy forwards
 * (docs/api.md and docs/openai.md in ollama/ollama), streaming included. Answers are deterministic so tests can
 * tell which host and model served them. Runs in-process or as its own process (`node ollama.js --port N`), so a
 * test can SIGKILL it like a crashed server.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface OllamaStandinOptions {
  name: string;
  models: string[];
  port?: number;
  /** Pause between streamed tokens, to keep a stream open long enough to kill the server during it. */
  tokenDelayMs?: number;
}

export interface OllamaStandin {
  url: string;
  port: number;
  requests: { path: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function tagsEntry(name: string): Json {
  return {
    name,
    model: name,
    modified_at: "2026-04-20T20:00:00Z",
    size: 4_920_753_328,
    digest: createHash("sha256").update(name).digest("hex"),
    details: { format: "gguf", family: name.split(":")[0], parameter_size: "8B", quantization_level: "Q4_K_M" },
  };
}

function embedding(model: string, text: string): number[] {
  const h = createHash("sha256").update(`${model}\0${text}`).digest();
  return [0, 1, 2, 3].map((i) => h.readInt16BE(i * 2) / 32768);
}

function lastUser(messages: unknown): string {
  const list = Array.isArray(messages) ? (messages as Json[]) : [];
  const m = [...list].reverse().find((x) => x.role === "user");
  const c = m?.content;
  if (Array.isArray(c)) return c.map((p: Json) => (typeof p.text === "string" ? p.text : "")).join("");
  return typeof c === "string" ? c : "";
}

export function startOllamaStandin(opts: OllamaStandinOptions): Promise<OllamaStandin> {
  const requests: OllamaStandin["requests"] = [];
  const delay = opts.tokenDelayMs ?? 0;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const reply = (model: string, prompt: string, limit?: number) => {
    const words = `${opts.name} ${model} says: ${prompt}`.split(" ");
    const n = typeof limit === "number" && limit > 0 ? Math.min(limit, words.length) : words.length;
    return { tokens: words.slice(0, n).map((w, i) => (i ? ` ${w}` : w)), truncated: n < words.length };
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json; charset=utf-8",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  };
  const missing = (res: http.ServerResponse, model: string, openai: boolean) =>
    openai
      ? json(res, 404, {
          error: {
            message: `model "${model}" not found, try pulling it first`,
            type: "api_error",
            param: null,
            code: null,
          },
        })
      : json(res, 404, { error: `model "${model}" not found, try pulling it first` });

  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body: Json = {};
    try {
      body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
    } catch {
      return json(res, 400, { error: "invalid character in request body" });
    }
    requests.push({ path, body });
    const model = String(body.model ?? body.name ?? "");
    const openai = path.startsWith("/v1/");
    if (req.method === "GET" && path === "/") {
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      return res.end("Ollama is running");
    }
    if (req.method === "GET" && path === "/api/version") return json(res, 200, { version: "0.12.6" });
    if (req.method === "GET" && path === "/api/tags") return json(res, 200, { models: opts.models.map(tagsEntry) });
    if (req.method === "GET" && path === "/api/ps")
      return json(res, 200, {
        models: opts.models
          .slice(0, 1)
          .map((m) => ({ ...tagsEntry(m), expires_at: "2026-04-20T20:05:00Z", size_vram: 0 })),
      });
    if (req.method === "GET" && path === "/v1/models")
      return json(res, 200, {
        object: "list",
        data: opts.models.map((id) => ({ id, object: "model", created: 1776715200, owned_by: "library" })),
      });
    if (req.method !== "POST") return json(res, 404, { error: "404 page not found" });
    if (!opts.models.includes(model)) return missing(res, model, openai);
    const options = (body.options ?? {}) as Json;
    const created_at = () => new Date().toISOString();

    if (path === "/api/show")
      return json(res, 200, {
        modelfile: `FROM ${model}`,
        parameters: "",
        template: "{{ .Prompt }}",
        details: tagsEntry(model).details,
        capabilities: ["completion"],
      });
    if (path === "/api/embed") {
      const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? "")];
      return json(res, 200, {
        model,
        embeddings: input.map((t) => embedding(model, t)),
        total_duration: 1000,
        load_duration: 0,
        prompt_eval_count: input.length,
      });
    }
    if (path === "/api/embeddings") return json(res, 200, { embedding: embedding(model, String(body.prompt ?? "")) });
    if (path === "/v1/embeddings") {
      const input = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? "")];
      return json(res, 200, {
        object: "list",
        // The openai client asks for base64 (packed little-endian float32) unless told otherwise.
        data: input.map((t, index) => ({
          object: "embedding",
          embedding:
            body.encoding_format === "base64"
              ? Buffer.from(new Float32Array(embedding(model, t)).buffer).toString("base64")
              : embedding(model, t),
          index,
        })),
        model,
        usage: { prompt_tokens: input.length, total_tokens: input.length },
      });
    }
    if (path === "/api/chat" || path === "/api/generate") {
      const chat = path === "/api/chat";
      const { tokens, truncated } = reply(
        model,
        chat ? lastUser(body.messages) : String(body.prompt ?? ""),
        options.num_predict as number,
      );
      const piece = (t: string) => (chat ? { message: { role: "assistant", content: t } } : { response: t });
      const done = {
        done: true,
        done_reason: truncated ? "length" : "stop",
        total_duration: 1_000_000,
        load_duration: 0,
        prompt_eval_count: 3,
        eval_count: tokens.length,
        eval_duration: 1_000_000,
      };
      if (body.stream === false)
        return json(res, 200, { model, created_at: created_at(), ...piece(tokens.join("")), ...done });
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      for (const t of tokens) {
        res.write(`${JSON.stringify({ model, created_at: created_at(), ...piece(t), done: false })}\n`);
        if (delay) await sleep(delay);
      }
      return res.end(`${JSON.stringify({ model, created_at: created_at(), ...piece(""), ...done })}\n`);
    }
    if (path === "/v1/chat/completions" || path === "/v1/completions") {
      const chat = path === "/v1/chat/completions";
      const limit = (body.max_tokens ?? body.max_completion_tokens) as number | undefined;
      const { tokens, truncated } = reply(model, chat ? lastUser(body.messages) : String(body.prompt ?? ""), limit);
      const id = `chatcmpl-${requests.length}`;
      const created = Math.floor(Date.now() / 1000);
      const finish = truncated ? "length" : "stop";
      const usage = { prompt_tokens: 3, completion_tokens: tokens.length, total_tokens: 3 + tokens.length };
      if (body.stream !== true) {
        const choice = chat
          ? { index: 0, message: { role: "assistant", content: tokens.join("") }, finish_reason: finish }
          : { index: 0, text: tokens.join(""), finish_reason: finish };
        return json(res, 200, {
          id,
          object: chat ? "chat.completion" : "text_completion",
          created,
          model,
          choices: [choice],
          usage,
        });
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      const object = chat ? "chat.completion.chunk" : "text_completion";
      for (const t of tokens) {
        const choice = chat
          ? { index: 0, delta: { role: "assistant", content: t }, finish_reason: null }
          : { index: 0, text: t, finish_reason: null };
        res.write(`data: ${JSON.stringify({ id, object, created, model, choices: [choice] })}\n\n`);
        if (delay) await sleep(delay);
      }
      const last = chat
        ? { index: 0, delta: {}, finish_reason: finish }
        : { index: 0, text: "", finish_reason: finish };
      res.write(`data: ${JSON.stringify({ id, object, created, model, choices: [last] })}\n\n`);
      return res.end("data: [DONE]\n\n");
    }
    return json(res, 404, { error: "404 page not found" });
  });
  return new Promise((resolve) => {
    server.listen(opts.port ?? 0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        requests,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (require.main === module) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(`--${k}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  void startOllamaStandin({
    name: arg("name") ?? "ollama",
    models: (arg("models") ?? "llama3.1:8b").split(","),
    port: Number(arg("port") ?? 0),
    tokenDelayMs: Number(arg("token-delay-ms") ?? 0),
  }).then((s) => process.stdout.write(`listening ${s.port}\n`));
}
