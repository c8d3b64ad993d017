/**
 * A stand-in for Anthropic's Messages API (POST /v1/messages, docs.anthropic.com/en/api/messages and
 * /en/api/messages-streaming): checks the key and version headers and the request rules the real API enforces
 * (max_tokens, roles, tool_result ids, image sources), answers deterministically, and streams the documented
 * event sequence. Every accepted request is recorded so tests can look at what the proxy sent.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

type Json = Record<string, unknown>;

export interface AnthropicStandin {
  url: string;
  requests: Json[];
  close(): Promise<void>;
}

const MEDIA = ["image/jpeg", "image/png", "image/gif", "image/webp"];

class Invalid extends Error {}

function validate(body: Json): void {
  if (typeof body.model !== "string" || !body.model) throw new Invalid("model: Field required");
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens as number) < 1)
    throw new Invalid("max_tokens: Field required");
  if (!Array.isArray(body.messages) || !body.messages.length)
    throw new Invalid("messages: at least one message is required");
  if (body.system !== undefined && typeof body.system !== "string" && !Array.isArray(body.system))
    throw new Invalid("system: Input should be a valid string");
  const toolUses = new Set<string>();
  for (const [i, m] of (body.messages as Json[]).entries()) {
    if (m.role !== "user" && m.role !== "assistant")
      throw new Invalid(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const blocks = typeof m.content === "string" ? [{ type: "text", text: m.content }] : (m.content as Json[]);
    if (!Array.isArray(blocks) || !blocks.length) throw new Invalid(`messages.${i}: content must be non-empty`);
    for (const b of blocks) {
      if (b.type === "text" && typeof b.text !== "string") throw new Invalid(`messages.${i}: text block needs text`);
      else if (b.type === "image") {
        const s = b.source as Json;
        if (s?.type === "base64" && !MEDIA.includes(String(s.media_type)))
          throw new Invalid(`messages.${i}: image media_type must be one of ${MEDIA.join(", ")}`);
        if (s?.type !== "base64" && s?.type !== "url") throw new Invalid(`messages.${i}: image source type`);
      } else if (b.type === "tool_use") {
        if (m.role !== "assistant") throw new Invalid(`messages.${i}: tool_use only in assistant turns`);
        toolUses.add(String(b.id));
      } else if (b.type === "tool_result") {
        if (m.role !== "user") throw new Invalid(`messages.${i}: tool_result only in user turns`);
        if (!toolUses.has(String(b.tool_use_id)))
          throw new Invalid(
            `messages.${i}: unexpected tool_use_id found in tool_result blocks: ${String(b.tool_use_id)}`,
          );
      } else if (b.type !== "text") throw new Invalid(`messages.${i}: unknown block type ${String(b.type)}`);
    }
  }
}

function words(s: string): number {
  return s.split(/\s+/).filter(Boolean).length;
}

interface Answer {
  blocks: Json[];
  stop_reason: string;
  stop_sequence: string | null;
  input_tokens: number;
  output_tokens: number;
}

function answer(body: Json, n: number): Answer {
  const messages = body.messages as Json[];
  const last = messages[messages.length - 1];
  const blocks = typeof last.content === "string" ? [{ type: "text", text: last.content }] : (last.content as Json[]);
  const lastText = blocks
    .filter((b) => b.type === "text")
    .map((b) => String(b.text))
    .join(" ");
  const system = typeof body.system === "string" ? body.system : "";
  const allText = JSON.stringify(messages) + system;
  const input_tokens = words(allText.replace(/[{}[\]",:]/g, " "));
  const tools = (body.tools as Json[] | undefined) ?? [];
  const result = blocks.find((b) => b.type === "tool_result");
  const image = blocks.find((b) => b.type === "image");
  if (!result && tools.length && /weather/i.test(lastText)) {
    const city = /in (\w+)/.exec(lastText)?.[1] ?? "Sarajevo";
    return {
      blocks: [
        { type: "text", text: "Checking." },
        { type: "tool_use", id: `toolu_0${n}`, name: String(tools[0].name), input: { city } },
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      input_tokens,
      output_tokens: 12,
    };
  }
  let text: string;
  if (result) text = `tool ${String(result.tool_use_id)} said ${String(result.content)}`;
  else if (image) {
    const s = image.source as Json;
    text = `I see a ${String(s.media_type ?? "url")} image of ${Buffer.from(String(s.data ?? ""), "base64").length} bytes. ${lastText}`;
  } else text = `claude ${String(body.model)} says:${system ? ` [system: ${system}]` : ""} ${lastText}`;
  let stop_reason = "end_turn";
  let stop_sequence: string | null = null;
  for (const s of (body.stop_sequences as string[] | undefined) ?? []) {
    const i = text.indexOf(s);
    if (i >= 0) {
      text = text.slice(0, i);
      stop_reason = "stop_sequence";
      stop_sequence = s;
    }
  }
  const w = text.split(" ");
  if (w.length > (body.max_tokens as number)) {
    text = w.slice(0, body.max_tokens as number).join(" ");
    stop_reason = "max_tokens";
  }
  return { blocks: [{ type: "text", text }], stop_reason, stop_sequence, input_tokens, output_tokens: words(text) };
}

export function startAnthropicStandin(opts: { apiKey: string }): Promise<AnthropicStandin> {
  const requests: Json[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const error = (status: number, type: string, message: string) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "error", error: { type, message } }));
    };
    if (req.method !== "POST" || req.url !== "/v1/messages") return error(404, "not_found_error", "Not found");
    if (req.headers["x-api-key"] !== opts.apiKey) return error(401, "authentication_error", "invalid x-api-key");
    if (!req.headers["anthropic-version"])
      return error(400, "invalid_request_error", "anthropic-version: header is required");
    let body: Json;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      validate(body);
    } catch (e) {
      return error(400, "invalid_request_error", (e as Error).message);
    }
    requests.push(body);
    const a = answer(body, requests.length);
    const id = `msg_0${requests.length}`;
    if (body.stream !== true) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(
        JSON.stringify({
          id,
          type: "message",
          role: "assistant",
          model: body.model,
          content: a.blocks,
          stop_reason: a.stop_reason,
          stop_sequence: a.stop_sequence,
          usage: { input_tokens: a.input_tokens, output_tokens: a.output_tokens },
        }),
      );
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (type: string, data: Json) =>
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    send("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model: body.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: a.input_tokens, output_tokens: 1 },
      },
    });
    send("ping", {});
    a.blocks.forEach((b, index) => {
      if (b.type === "text") {
        send("content_block_start", { index, content_block: { type: "text", text: "" } });
        for (const [i, w] of String(b.text).split(" ").entries())
          send("content_block_delta", { index, delta: { type: "text_delta", text: i ? ` ${w}` : w } });
      } else {
        send("content_block_start", { index, content_block: { type: "tool_use", id: b.id, name: b.name, input: {} } });
        const json = JSON.stringify(b.input);
        const mid = Math.floor(json.length / 2);
        for (const part of [json.slice(0, mid), json.slice(mid)])
          send("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } });
      }
      send("content_block_stop", { index });
    });
    send("message_delta", {
      delta: { stop_reason: a.stop_reason, stop_sequence: a.stop_sequence },
      usage: { output_tokens: a.output_tokens },
    });
    send("message_stop", {});
    res.end();
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
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
