import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { freePort } from "../src/util/net";
import { ANVIL_MODELS, OllamaProcess, type RunningProxy, routingFor, startProxy } from "./helpers/inference";
import { type AnthropicStandin, startAnthropicStandin } from "./standins/anthropic";

const KEY = "sk-ant-standin-key-0123456789";
const anvil = new OllamaProcess("anvil", ANVIL_MODELS);
let claude: AnthropicStandin;
let p: RunningProxy;
let ollama: Ollama;
let openai: OpenAI;
// A 1x1 PNG.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const WEATHER_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

before(async () => {
  claude = await startAnthropicStandin({ apiKey: KEY });
  await anvil.start();
  // FORGE is down: nothing listens on its port, so its tiers escalate to Claude.
  p = await startProxy(routingFor(anvil.url, `http://127.0.0.1:${await freePort()}`, claude.url), { claudeKey: KEY });
  ollama = new Ollama({ host: p.url, headers: { "X-Understudy-Tier": "3" } });
  openai = new OpenAI({
    baseURL: `${p.url}/v1`,
    apiKey: "unused",
    maxRetries: 0,
    defaultHeaders: { "X-Understudy-Tier": "3" },
  });
});

after(async () => {
  await p.close();
  await anvil.kill();
  await claude.close();
});

function lastRequest() {
  return claude.requests[claude.requests.length - 1] as Record<string, unknown> & {
    messages: { role: string; content: Record<string, unknown>[] }[];
  };
}

test("forge down: /api/chat goes to Claude with system, num_predict, stop and sampling translated, and comes back Ollama-shaped", async () => {
  const r = await ollama.chat({
    model: "qwen3:32b",
    messages: [
      { role: "system", content: "be brief" },
      { role: "user", content: "hello claude" },
    ],
    options: { num_predict: 100, stop: ["NEVER"], temperature: 1.5, top_k: 20 },
  });
  assert.equal(r.message.content, "claude claude-sonnet-4-5 says: [system: be brief] hello claude");
  assert.equal(r.model, "claude-sonnet-4-5");
  assert.equal(r.done, true);
  assert.equal(r.done_reason, "stop");
  assert.ok(
    r.prompt_eval_count > 0 && r.eval_count === 8,
    `token counts carried: ${r.prompt_eval_count}/${r.eval_count}`,
  );
  const sent = lastRequest();
  assert.equal(sent.system, "be brief");
  assert.equal(sent.max_tokens, 100);
  assert.deepEqual(sent.stop_sequences, ["NEVER"]);
  assert.equal(sent.temperature, 1, "Ollama's temperature range is wider than Claude's");
  assert.equal(sent.top_k, 20);
  assert.deepEqual(sent.messages, [{ role: "user", content: [{ type: "text", text: "hello claude" }] }]);
});

test("Claude's stream arrives as Ollama NDJSON parts; max_tokens becomes done_reason length", async () => {
  const parts = [];
  for await (const part of await ollama.chat({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "one two three four five" }],
    options: { num_predict: 4 },
    stream: true,
  }))
    parts.push(part);
  const text = parts.map((x) => x.message.content).join("");
  assert.equal(text, "claude claude-sonnet-4-5 says: one");
  assert.ok(parts.length >= 4, "streamed in pieces");
  const last = parts[parts.length - 1];
  assert.equal(last.done, true);
  assert.equal(last.done_reason, "length");
  assert.equal(last.eval_count, 4);
});

test("a stop sequence ends the answer where Claude stopped", async () => {
  const r = await ollama.chat({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "alpha STOP beta" }],
    options: { stop: ["STOP"] },
  });
  assert.equal(r.message.content, "claude claude-sonnet-4-5 says: alpha ");
  assert.equal(r.done_reason, "stop");
});

test("tools: Claude's tool_use comes back as Ollama tool_calls, and the tool result goes back with the right id", async () => {
  const messages: Parameters<Ollama["chat"]>[0]["messages"] = [
    { role: "user", content: "what is the weather in Oslo?" },
  ];
  const first = await ollama.chat({ model: "qwen3:32b", messages, tools: [WEATHER_TOOL] });
  const calls = first.message.tool_calls ?? [];
  assert.equal(calls.length, 1);
  assert.equal(calls[0].function.name, "get_weather");
  assert.deepEqual(calls[0].function.arguments, { city: "Oslo" });
  const toolUse = claude.requests.length;
  messages.push(first.message, { role: "tool", content: "12 C and clear", tool_name: "get_weather" });
  // Streamed this time: the tool result round trip must work either way.
  let text = "";
  for await (const part of await ollama.chat({ model: "qwen3:32b", messages, tools: [WEATHER_TOOL], stream: true }))
    text += part.message.content;
  assert.equal(text, `tool toolu_0${toolUse} said 12 C and clear`);
  const sent = lastRequest();
  assert.deepEqual(sent.tools, [
    { name: "get_weather", description: "Current weather in a city", input_schema: WEATHER_TOOL.function.parameters },
  ]);
  assert.deepEqual(
    sent.messages.map((m) => [m.role, m.content.map((b) => b.type)]),
    [
      ["user", ["text"]],
      ["assistant", ["text", "tool_use"]],
      ["user", ["tool_result"]],
    ],
  );
});

test("images: Ollama's bare base64 goes to Claude with its media type; /api/generate works too", async () => {
  const r = await ollama.chat({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "what is this", images: [PNG] }],
  });
  assert.equal(
    r.message.content,
    `I see a image/png image of ${Buffer.from(PNG, "base64").length} bytes. what is this`,
  );
  const g = await ollama.generate({ model: "qwen3:32b", prompt: "generate me", system: "sys" });
  assert.equal(g.response, "claude claude-sonnet-4-5 says: [system: sys] generate me");
  const bad = ollama.chat({ model: "qwen3:32b", messages: [{ role: "user", content: "x", images: ["AAAA"] }] });
  await assert.rejects(bad, /cannot send this request to Claude: image is not PNG, JPEG, GIF or WebP/);
});

test("the openai client reaches Claude too: tool_calls, finish reasons, streamed usage", async () => {
  const first = await openai.chat.completions.create({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "weather in Bergen please" }],
    tools: [WEATHER_TOOL],
  });
  assert.equal(first.choices[0].finish_reason, "tool_calls");
  const call = first.choices[0].message.tool_calls?.[0];
  assert.ok(call && call.type === "function");
  assert.equal(call.function.name, "get_weather");
  assert.deepEqual(JSON.parse(call.function.arguments), { city: "Bergen" });
  const stream = await openai.chat.completions.create({
    model: "qwen3:32b",
    messages: [
      { role: "system", content: "terse" },
      { role: "user", content: "weather in Bergen please" },
      first.choices[0].message,
      { role: "tool", tool_call_id: call.id, content: "rain" },
    ],
    tools: [WEATHER_TOOL],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
    usage = chunk.usage ?? usage;
  }
  assert.equal(text, `tool ${call.id} said rain`);
  assert.equal(finish, "stop");
  assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens === 4);
  assert.equal(lastRequest().system, "terse");
  const img = await openai.chat.completions.create({
    model: "qwen3:32b",
    max_tokens: 50,
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "see" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}` } },
        ],
      },
    ],
  });
  assert.match(img.choices[0].message.content ?? "", /^I see a image\/png image/);
  assert.equal(lastRequest().max_tokens, 50);
});

test("a rejected key is the proxy's upstream failing (502), and the key never appears in the error", async () => {
  const cfg = routingFor(anvil.url, `http://127.0.0.1:${await freePort()}`, claude.url);
  const sp = await startProxy(cfg, { claudeKey: "sk-ant-wrong-key-value" });
  try {
    const res = await fetch(`${sp.url}/api/chat`, {
      method: "POST",
      headers: { "X-Understudy-Tier": "3" },
      body: JSON.stringify({ model: "qwen3:32b", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(res.status, 502);
    const body = (await res.json()) as { error: string };
    assert.match(body.error, /claude answered HTTP 401: authentication_error: invalid x-api-key/);
    assert.doesNotMatch(body.error, /sk-ant/);
  } finally {
    await sp.close();
  }
  // Claude has no embeddings: with forge down the request is refused with the reason, not sent anywhere.
  const emb = await fetch(`${p.url}/api/embed`, {
    method: "POST",
    headers: { "X-Understudy-Tier": "3" },
    body: JSON.stringify({ model: "qwen3:32b", input: "x" }),
  });
  assert.equal(emb.status, 503);
  assert.match(((await emb.json()) as { error: string }).error, /forge is down.*cannot serve this endpoint/);
});
