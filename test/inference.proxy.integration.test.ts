import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { waitFor } from "./helpers/env";
import {
  ANVIL_MODELS,
  FORGE_MODELS,
  OllamaProcess,
  type RunningProxy,
  routingFor,
  startProxy,
} from "./helpers/inference";

const TOKEN = "proxy-test-token";
const anvil = new OllamaProcess("anvil", ANVIL_MODELS);
const forge = new OllamaProcess("forge", FORGE_MODELS);
let p: RunningProxy;
let ollama: Ollama;
let openai: OpenAI;

before(async () => {
  await Promise.all([anvil.start(), forge.start()]);
  p = await startProxy(routingFor(anvil.url, forge.url), { token: TOKEN });
  ollama = new Ollama({ host: p.url, headers: { Authorization: `Bearer ${TOKEN}` } });
  openai = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
});

after(async () => {
  await p.close();
  await Promise.all([anvil.kill(), forge.kill()]);
});

test("the ollama client works through the proxy: chat, generate, embed, list, show, ps, version", async () => {
  const chat = await ollama.chat({ model: "qwen2.5-coder:32b", messages: [{ role: "user", content: "hello anvil" }] });
  assert.equal(chat.message.content, "anvil qwen2.5-coder:32b says: hello anvil");
  assert.equal(chat.done_reason, "stop");
  const parts: string[] = [];
  for await (const part of await ollama.chat({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "stream me" }],
    stream: true,
  }))
    parts.push(part.message.content);
  assert.equal(parts.join(""), "forge qwen3:32b says: stream me");
  assert.ok(parts.length > 3, "arrived as a stream, one token per part");
  const gen = await ollama.generate({ model: "llama3.1:8b", prompt: "why", options: { num_predict: 2 } });
  assert.equal(gen.response, "anvil llama3.1:8b");
  assert.equal(gen.done_reason, "length");
  const emb = await ollama.embed({ model: "qwen3:32b", input: ["a", "b"] });
  assert.equal(emb.embeddings.length, 2);
  const old = await ollama.embeddings({ model: "nomic-embed-text", prompt: "a" });
  assert.equal(old.embedding.length, 4);
  const list = await ollama.list();
  assert.deepEqual(list.models.map((m) => m.name).sort(), [...new Set([...ANVIL_MODELS, ...FORGE_MODELS])].sort());
  const show = await ollama.show({ model: "qwen3:32b" });
  assert.equal(show.modelfile, "FROM qwen3:32b");
  assert.ok((await ollama.ps()).models.length >= 1);
  assert.equal((await ollama.version()).version, "0.12.6");
  await assert.rejects(ollama.chat({ model: "no-such:1b", messages: [{ role: "user", content: "x" }] }), /not found/);
});

test("the openai client works through the proxy: chat (plain and streamed), completions, embeddings, models", async () => {
  const c = await openai.chat.completions.create({ model: "llama3.1:8b", messages: [{ role: "user", content: "hi" }] });
  assert.equal(c.choices[0].message.content, "anvil llama3.1:8b says: hi");
  const stream = await openai.chat.completions.create({
    model: "qwen3:32b",
    messages: [{ role: "user", content: "count" }],
    stream: true,
  });
  let text = "";
  let finish: string | null = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, "forge qwen3:32b says: count");
  assert.equal(finish, "stop");
  const comp = await openai.completions.create({ model: "llama3.1:8b", prompt: "once" });
  assert.equal(comp.choices[0].text, "anvil llama3.1:8b says: once");
  const e = await openai.embeddings.create({ model: "nomic-embed-text", input: "x" });
  assert.equal(e.data[0].embedding.length, 4);
  const models = await openai.models.list();
  assert.ok(models.data.some((m) => m.id === "qwen3:32b"));
});

test("the bearer token is required; the answer is Ollama-shaped (or OpenAI-shaped on /v1)", async () => {
  const noToken = new Ollama({ host: p.url });
  await assert.rejects(noToken.list(), (e: Error & { status_code?: number }) => {
    assert.equal(e.status_code, 401);
    assert.match(e.message, /unauthorized/);
    return true;
  });
  const wrong = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: "nope", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e: Error & { status?: number }) => e.status === 401);
  // With a token, / and /metrics need it too.
  assert.equal((await fetch(p.url)).status, 401);
  assert.equal((await fetch(`${p.url}/metrics`)).status, 401);
  const root = await fetch(p.url, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(await root.text(), "Ollama is running");
});

test("the tier header picks the owner; a killed host's next request goes to the other with the mapped model", async () => {
  const headers = { Authorization: `Bearer ${TOKEN}`, "X-Understudy-Tier": "2" };
  const tiered = new Ollama({ host: p.url, headers });
  const before = await tiered.chat({ model: "qwen2.5-coder:32b", messages: [{ role: "user", content: "one" }] });
  assert.match(before.message.content, /^anvil qwen2\.5-coder:32b says/);
  await anvil.kill();
  // Immediately, before the monitor has noticed: the connection is refused, so the proxy tries the rule's target.
  const afterKill = await tiered.chat({ model: "qwen2.5-coder:32b", messages: [{ role: "user", content: "two" }] });
  assert.equal(afterKill.message.content, "forge qwen2.5-coder:32b-instruct-q8_0 says: two");
  assert.equal(afterKill.model, "qwen2.5-coder:32b-instruct-q8_0");
  await waitFor("the monitor to call anvil down", () => p.monitor.snapshot().get("anvil")?.healthy === false);
  const later = await tiered.chat({ model: "qwen2.5-coder:32b", messages: [{ role: "user", content: "three" }] });
  assert.equal(later.message.content, "forge qwen2.5-coder:32b-instruct-q8_0 says: three");
  const metrics = await (await fetch(`${p.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
  assert.match(metrics, /understudy_inference_failovers_total\{kind="retry",to="forge"\} [1-9]/);
  assert.match(metrics, /understudy_inference_failovers_total\{kind="rule",to="forge"\} [1-9]/);
  assert.match(metrics, /understudy_inference_host_healthy\{host="anvil"\} 0/);
  assert.match(metrics, /understudy_inference_upstream_seconds_count\{target="forge"\} [1-9]/);
  await anvil.start();
  await waitFor("anvil to be healthy again", () => p.monitor.snapshot().get("anvil")?.healthy === true);
  const back = await tiered.chat({ model: "qwen2.5-coder:32b", messages: [{ role: "user", content: "four" }] });
  assert.match(back.message.content, /^anvil /);
});

test("a host killed during a stream: both clients get a clean error, no hang, no replay", async () => {
  const slow = new OllamaProcess("slow", ["llama3.1:8b"], 150);
  await slow.start();
  const cfg = routingFor(slow.url, forge.url);
  cfg.hosts[1].tiers = [];
  // The slow stand-in plays anvil, the owner of llama3.1:8b.
  const sp = await startProxy(cfg);
  try {
    const client = new Ollama({ host: sp.url });
    const got: string[] = [];
    const run = (async () => {
      for await (const part of await client.chat({
        model: "llama3.1:8b",
        messages: [{ role: "user", content: "a long answer with many words to stream slowly" }],
        stream: true,
      })) {
        got.push(part.message.content);
        if (got.length === 2) await slow.kill();
      }
    })();
    await assert.rejects(run, /anvil failed mid-response.*not retried because the response had begun/);
    assert.ok(got.length >= 2 && got.length < 10, `stopped mid-stream after ${got.length} parts`);
    await slow.start();
    // Until the monitor sees it back, its requests would (rightly) go to forge, which streams too fast to interrupt.
    await waitFor("anvil healthy again", () => sp.monitor.snapshot().get("anvil")?.healthy === true);
    const oa = new OpenAI({ baseURL: `${sp.url}/v1`, apiKey: "x", maxRetries: 0 });
    const stream = await oa.chat.completions.create({
      model: "llama3.1:8b",
      messages: [{ role: "user", content: "another long answer with many words to stream" }],
      stream: true,
    });
    let chunks = 0;
    await assert.rejects(
      (async () => {
        for await (const _c of stream) {
          if (++chunks === 2) await slow.kill();
        }
      })(),
      /anvil failed mid-response/,
    );
    const m = await (await fetch(`${sp.url}/metrics`)).text();
    assert.match(m, /understudy_inference_upstream_errors_total\{target="anvil",stage="stream"\} 2/);
    assert.doesNotMatch(m, /kind="retry"/, "a begun response is never replayed elsewhere");
  } finally {
    await sp.close();
    await slow.kill();
  }
});
