/**
 * Anthropic's answers (a Message, or its server-sent events) → what the client asked in: Ollama's /api/chat or
 * /api/generate (JSON or NDJSON), or OpenAI's chat completion (JSON or SSE chunks).
 */
import { randomBytes } from "node:crypto";
import type { SseEvent } from "./sse";
import { sseData } from "./sse";

export type Dialect = "ollama-chat" | "ollama-generate" | "openai-chat";

export interface ToolCall {
  id: string;
  name: string;
  input: unknown;
}

export interface Reply {
  model: string;
  text: string;
  tools: ToolCall[];
  stopReason: string | null;
  inputTokens: number;
  outputTokens: number;
}

type Json = Record<string, unknown>;

export function replyFromMessage(msg: Json): Reply {
  const blocks = Array.isArray(msg.content) ? (msg.content as Json[]) : [];
  const usage = (msg.usage ?? {}) as Json;
  return {
    model: String(msg.model ?? ""),
    text: blocks
      .filter((b) => b.type === "text")
      .map((b) => String(b.text))
      .join(""),
    tools: blocks
      .filter((b) => b.type === "tool_use")
      .map((b) => ({ id: String(b.id), name: String(b.name), input: b.input ?? {} })),
    stopReason: (msg.stop_reason as string | null) ?? null,
    inputTokens: Number(usage.input_tokens ?? 0),
    outputTokens: Number(usage.output_tokens ?? 0),
  };
}

function ollamaReason(r: string | null): string {
  return r === "max_tokens" ? "length" : "stop";
}

function openaiReason(r: string | null): string {
  if (r === "max_tokens") return "length";
  if (r === "tool_use") return "tool_calls";
  return "stop";
}

function ollamaTools(tools: ToolCall[]): Json[] {
  return tools.map((t) => ({ id: t.id, function: { name: t.name, arguments: t.input } }));
}

function openaiTools(tools: ToolCall[]): Json[] {
  return tools.map((t, index) => ({
    index,
    id: t.id,
    type: "function",
    function: { name: t.name, arguments: JSON.stringify(t.input) },
  }));
}

function ollamaDone(r: Reply, startedNs: bigint): Json {
  return {
    done: true,
    done_reason: ollamaReason(r.stopReason),
    total_duration: Number(process.hrtime.bigint() - startedNs),
    prompt_eval_count: r.inputTokens,
    eval_count: r.outputTokens,
  };
}

/** The whole answer as one JSON body, for stream: false. */
export function renderFull(dialect: Dialect, r: Reply, startedNs: bigint): Json {
  const created_at = new Date().toISOString();
  if (dialect === "ollama-chat") {
    const message: Json = { role: "assistant", content: r.text };
    if (r.tools.length) message.tool_calls = ollamaTools(r.tools);
    return { model: r.model, created_at, message, ...ollamaDone(r, startedNs) };
  }
  if (dialect === "ollama-generate") {
    return { model: r.model, created_at, response: r.text, ...ollamaDone(r, startedNs) };
  }
  const message: Json = { role: "assistant", content: r.text || (r.tools.length ? null : "") };
  if (r.tools.length) message.tool_calls = openaiTools(r.tools).map(({ index: _i, ...t }) => t);
  return {
    id: `chatcmpl-${randomBytes(8).toString("hex")}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: r.model,
    choices: [{ index: 0, message, finish_reason: openaiReason(r.stopReason), logprobs: null }],
    usage: {
      prompt_tokens: r.inputTokens,
      completion_tokens: r.outputTokens,
      total_tokens: r.inputTokens + r.outputTokens,
    },
  };
}

/**
 * Reads Anthropic's stream events and writes the client's dialect as they arrive. Text deltas go out at once;
 * a tool call goes out whole when its block ends (Ollama streams tool calls whole; OpenAI clients accept either).
 */
export class StreamTranslator {
  readonly reply: Reply = { model: "", text: "", tools: [], stopReason: null, inputTokens: 0, outputTokens: 0 };
  private readonly blocks = new Map<number, { type: string; id?: string; name?: string; json: string }>();
  private readonly id = `chatcmpl-${randomBytes(8).toString("hex")}`;
  private readonly created = Math.floor(Date.now() / 1000);
  private toolIndex = 0;
  finished = false;

  constructor(
    private readonly dialect: Dialect,
    private readonly startedNs: bigint,
    private readonly includeUsage = false,
  ) {}

  private chunk(content: Json | null, extra: Json = {}): string {
    const created_at = new Date().toISOString();
    if (this.dialect === "ollama-chat") {
      return `${JSON.stringify({ model: this.reply.model, created_at, message: { role: "assistant", content: "", ...content }, done: false, ...extra })}\n`;
    }
    if (this.dialect === "ollama-generate") {
      return `${JSON.stringify({ model: this.reply.model, created_at, response: content?.content ?? "", done: false, ...extra })}\n`;
    }
    return sseData({
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.reply.model,
      choices: [{ index: 0, delta: content ?? {}, finish_reason: null, logprobs: null }],
      ...extra,
    });
  }

  /** Returns what to write to the client for one Anthropic event; throws on an in-stream error event. */
  onEvent(ev: SseEvent): string {
    if (!ev.data) return "";
    const d = JSON.parse(ev.data) as Json;
    switch (d.type) {
      case "message_start": {
        const m = (d.message ?? {}) as Json;
        this.reply.model = String(m.model ?? "");
        this.reply.inputTokens = Number(((m.usage ?? {}) as Json).input_tokens ?? 0);
        return this.dialect === "openai-chat" ? this.chunk({ role: "assistant", content: "" }) : "";
      }
      case "content_block_start": {
        const b = (d.content_block ?? {}) as Json;
        this.blocks.set(Number(d.index), {
          type: String(b.type),
          id: b.id as string,
          name: b.name as string,
          json: "",
        });
        const t = b.type === "text" && typeof b.text === "string" ? b.text : "";
        if (t) this.reply.text += t;
        return t ? this.chunk({ content: t }) : "";
      }
      case "content_block_delta": {
        const delta = (d.delta ?? {}) as Json;
        const block = this.blocks.get(Number(d.index));
        if (delta.type === "text_delta") {
          const t = String(delta.text ?? "");
          this.reply.text += t;
          return this.chunk({ content: t });
        }
        if (delta.type === "input_json_delta" && block) block.json += String(delta.partial_json ?? "");
        return "";
      }
      case "content_block_stop": {
        const block = this.blocks.get(Number(d.index));
        if (block?.type !== "tool_use") return "";
        const call: ToolCall = {
          id: block.id ?? "",
          name: block.name ?? "",
          input: block.json ? JSON.parse(block.json) : {},
        };
        this.reply.tools.push(call);
        if (this.dialect === "ollama-chat") return this.chunk({ tool_calls: ollamaTools([call]) });
        if (this.dialect === "openai-chat") {
          const [t] = openaiTools([call]);
          return this.chunk({ tool_calls: [{ ...t, index: this.toolIndex++ }] });
        }
        return "";
      }
      case "message_delta": {
        const delta = (d.delta ?? {}) as Json;
        if (delta.stop_reason !== undefined) this.reply.stopReason = delta.stop_reason as string | null;
        const out = Number(((d.usage ?? {}) as Json).output_tokens ?? Number.NaN);
        if (Number.isFinite(out)) this.reply.outputTokens = out;
        return "";
      }
      case "message_stop":
        return this.finish();
      case "error": {
        const e = (d.error ?? {}) as Json;
        throw new Error(`claude: ${String(e.type ?? "error")}: ${String(e.message ?? "stream error")}`);
      }
      default:
        return ""; // ping, and event types added after this was written
    }
  }

  private finish(): string {
    this.finished = true;
    const r = this.reply;
    if (this.dialect !== "openai-chat") {
      const created_at = new Date().toISOString();
      const body =
        this.dialect === "ollama-chat"
          ? { model: r.model, created_at, message: { role: "assistant", content: "" } }
          : { model: r.model, created_at, response: "" };
      return `${JSON.stringify({ ...body, ...ollamaDone(r, this.startedNs) })}\n`;
    }
    let out = sseData({
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: r.model,
      choices: [{ index: 0, delta: {}, finish_reason: openaiReason(r.stopReason), logprobs: null }],
    });
    if (this.includeUsage) {
      out += sseData({
        id: this.id,
        object: "chat.completion.chunk",
        created: this.created,
        model: r.model,
        choices: [],
        usage: {
          prompt_tokens: r.inputTokens,
          completion_tokens: r.outputTokens,
          total_tokens: r.inputTokens + r.outputTokens,
        },
      });
    }
    return `${out}${sseData("[DONE]")}`;
  }
}

/** An error inside a response that has already begun: the only way left to tell the client. */
export function inBandError(kind: "ndjson" | "sse", message: string): string {
  if (kind === "ndjson") return `${JSON.stringify({ error: message })}\n`;
  return sseData({ error: { message, type: "upstream_error", code: 502 } });
}
