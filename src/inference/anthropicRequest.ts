/**
 * Ollama and OpenAI chat requests → Anthropic's Messages API (POST /v1/messages). Anthropic's rules that the
 * others do not have: system text sits outside the messages, max_tokens is required, tool results are user
 * content blocks that name the tool_use id they answer, and images carry their media type.
 */

export type Block =
  | { type: "text"; text: string }
  | { type: "image"; source: { type: "base64"; media_type: string; data: string } | { type: "url"; url: string } }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "tool_result"; tool_use_id: string; content: string };

export interface AnthropicMessage {
  role: "user" | "assistant";
  content: Block[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: unknown;
}

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  system?: string;
  messages: AnthropicMessage[];
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stream?: boolean;
  tools?: AnthropicTool[];
  tool_choice?: { type: "auto" | "any" | "none" } | { type: "tool"; name: string };
}

export class TranslationError extends Error {}

type Json = Record<string, unknown>;

const MAGIC: [string, string][] = [
  ["iVBORw0KGgo", "image/png"],
  ["/9j/", "image/jpeg"],
  ["R0lGOD", "image/gif"],
  ["UklGR", "image/webp"],
];

/** Ollama sends bare base64; Anthropic wants the media type, which the first bytes tell. */
export function base64Image(data: string): Block {
  const media = MAGIC.find(([p]) => data.startsWith(p))?.[1];
  if (!media) throw new TranslationError("image is not PNG, JPEG, GIF or WebP (the types Claude accepts)");
  return { type: "image", source: { type: "base64", media_type: media, data } };
}

function urlImage(url: string): Block {
  const m = /^data:([^;,]+);base64,(.*)$/s.exec(url);
  if (m) return { type: "image", source: { type: "base64", media_type: m[1], data: m[2] } };
  if (/^https?:\/\//.test(url)) return { type: "image", source: { type: "url", url } };
  throw new TranslationError("image_url must be a data: URL or an http(s) URL");
}

function args(v: unknown): unknown {
  if (typeof v !== "string") return v ?? {};
  try {
    return JSON.parse(v);
  } catch {
    throw new TranslationError(`tool call arguments are not JSON: ${v.slice(0, 80)}`);
  }
}

/** Appends to the last message when the role repeats: Anthropic wants user and assistant turns to alternate. */
function push(out: AnthropicMessage[], role: "user" | "assistant", blocks: Block[]): void {
  if (!blocks.length) return;
  const last = out[out.length - 1];
  if (last && last.role === role) last.content.push(...blocks);
  else out.push({ role, content: blocks });
}

function text(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v))
    return v.map((p) => (p && typeof p === "object" && "text" in p ? String((p as Json).text) : "")).join("");
  return v == null ? "" : String(v);
}

/** Tool results in Ollama and OpenAI point back at the call by id or by name; Anthropic needs the id. */
class ToolIds {
  private pending: { id: string; name: string }[] = [];
  private n = 0;

  issue(name: string, given?: unknown): string {
    const id = typeof given === "string" && given ? given : `toolu_understudy_${++this.n}`;
    this.pending.push({ id, name });
    return id;
  }

  answer(byId?: unknown, byName?: unknown): string {
    let i = typeof byId === "string" ? this.pending.findIndex((p) => p.id === byId) : -1;
    if (i < 0 && typeof byName === "string") i = this.pending.findIndex((p) => p.name === byName);
    if (i < 0) i = 0;
    const hit = this.pending.splice(i, 1)[0];
    if (!hit) throw new TranslationError("a tool result answers no earlier tool call");
    return hit.id;
  }
}

/** An assistant turn (Ollama and OpenAI spell tool calls the same way): its text, then its tool_use blocks. */
function assistantBlocks(m: Json, ids: ToolIds): Block[] {
  const calls = Array.isArray(m.tool_calls) ? (m.tool_calls as Json[]) : [];
  const uses: Block[] = calls.map((c) => {
    const f = (c.function ?? {}) as Json;
    const name = String(f.name);
    return { type: "tool_use", id: ids.issue(name, c.id), name, input: args(f.arguments) };
  });
  const t = text(m.content);
  return [...(t ? [{ type: "text", text: t } as Block] : []), ...uses];
}

function tools(list: unknown): AnthropicTool[] | undefined {
  if (!Array.isArray(list) || !list.length) return undefined;
  return list.map((t: Json) => {
    const f = (t.function ?? t) as Json;
    if (typeof f.name !== "string") throw new TranslationError("every tool needs function.name");
    return {
      name: f.name,
      ...(typeof f.description === "string" ? { description: f.description } : {}),
      input_schema: f.parameters ?? { type: "object", properties: {} },
    };
  });
}

function stops(v: unknown): string[] | undefined {
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.length) return v.map(String);
  return undefined;
}

function positive(v: unknown): number | undefined {
  return typeof v === "number" && v > 0 ? Math.floor(v) : undefined;
}

function sampling(o: Json): Pick<AnthropicRequest, "temperature" | "top_p" | "top_k"> {
  const out: Pick<AnthropicRequest, "temperature" | "top_p" | "top_k"> = {};
  // Ollama allows temperatures up to 2; Claude's range is 0..1.
  if (typeof o.temperature === "number") out.temperature = Math.min(1, Math.max(0, o.temperature));
  if (typeof o.top_p === "number") out.top_p = o.top_p;
  if (typeof o.top_k === "number") out.top_k = o.top_k;
  return out;
}

export function fromOllamaChat(body: Json, model: string, defaultMax: number): AnthropicRequest {
  if (!Array.isArray(body.messages)) throw new TranslationError("messages must be a list");
  const opts = (body.options ?? {}) as Json;
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const ids = new ToolIds();
  for (const m of body.messages as Json[]) {
    const content = text(m.content);
    if (m.role === "system") system.push(content);
    else if (m.role === "user") {
      const images = Array.isArray(m.images) ? m.images.map((d) => base64Image(String(d))) : [];
      push(messages, "user", [...images, ...(content ? [{ type: "text", text: content } as Block] : [])]);
    } else if (m.role === "assistant") {
      push(messages, "assistant", assistantBlocks(m, ids));
    } else if (m.role === "tool") {
      push(messages, "user", [{ type: "tool_result", tool_use_id: ids.answer(m.tool_call_id, m.tool_name), content }]);
    } else throw new TranslationError(`unknown message role "${String(m.role)}"`);
  }
  return {
    model,
    max_tokens: positive(opts.num_predict) ?? defaultMax,
    ...(system.length ? { system: system.join("\n\n") } : {}),
    messages,
    ...(stops(opts.stop) ? { stop_sequences: stops(opts.stop) } : {}),
    ...sampling(opts),
    ...(tools(body.tools) ? { tools: tools(body.tools) } : {}),
    stream: body.stream !== false,
  };
}

export function fromOllamaGenerate(body: Json, model: string, defaultMax: number): AnthropicRequest {
  const images = Array.isArray(body.images) ? body.images.map((d) => base64Image(String(d))) : [];
  const prompt = text(body.prompt);
  return {
    ...fromOllamaChat(
      { messages: [], options: body.options, stream: body.stream, tools: undefined },
      model,
      defaultMax,
    ),
    ...(typeof body.system === "string" && body.system ? { system: body.system } : {}),
    messages: [{ role: "user", content: [...images, { type: "text", text: prompt }] }],
  };
}

function toolChoice(v: unknown): AnthropicRequest["tool_choice"] {
  if (v === "auto") return { type: "auto" };
  if (v === "required") return { type: "any" };
  if (v === "none") return { type: "none" };
  if (v && typeof v === "object") {
    const name = ((v as Json).function as Json | undefined)?.name;
    if (typeof name === "string") return { type: "tool", name };
  }
  return undefined;
}

export function fromOpenAIChat(body: Json, model: string, defaultMax: number): AnthropicRequest {
  if (!Array.isArray(body.messages)) throw new TranslationError("messages must be a list");
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const ids = new ToolIds();
  for (const m of body.messages as Json[]) {
    if (m.role === "system" || m.role === "developer") system.push(text(m.content));
    else if (m.role === "user") {
      const parts = Array.isArray(m.content) ? (m.content as Json[]) : [{ type: "text", text: text(m.content) }];
      const blocks = parts.map((p): Block => {
        if (p.type === "text") return { type: "text", text: String(p.text) };
        if (p.type === "image_url") return urlImage(String(((p.image_url ?? {}) as Json).url ?? p.image_url));
        throw new TranslationError(`unsupported content part "${String(p.type)}"`);
      });
      push(messages, "user", blocks);
    } else if (m.role === "assistant") {
      push(messages, "assistant", assistantBlocks(m, ids));
    } else if (m.role === "tool") {
      push(messages, "user", [
        { type: "tool_result", tool_use_id: ids.answer(m.tool_call_id, m.name), content: text(m.content) },
      ]);
    } else throw new TranslationError(`unknown message role "${String(m.role)}"`);
  }
  const choice = toolChoice(body.tool_choice);
  return {
    model,
    max_tokens: positive(body.max_completion_tokens) ?? positive(body.max_tokens) ?? defaultMax,
    ...(system.length ? { system: system.join("\n\n") } : {}),
    messages,
    ...(stops(body.stop) ? { stop_sequences: stops(body.stop) } : {}),
    ...sampling(body),
    ...(tools(body.tools) ? { tools: tools(body.tools) } : {}),
    ...(choice ? { tool_choice: choice } : {}),
    stream: body.stream === true,
  };
}
