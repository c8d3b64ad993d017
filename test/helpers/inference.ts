import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import pino from "pino";
import { loadRoutingFile } from "../../src/config/inferenceConfig";
import type { InferenceConfig } from "../../src/config/inferenceTypes";
import { ProxyMetrics } from "../../src/inference/metrics";
import { HealthMonitor } from "../../src/inference/monitor";
import { InferenceProxy } from "../../src/inference/proxy";
import { Router } from "../../src/inference/router";
import { EXAMPLES } from "./env";

const STANDIN = join(__dirname, "..", "..", "src", "drill", "ollamaStandin.js");

/** An Ollama stand-in in its own process, so it can be SIGKILLed like a crashed server and started again. */
export class OllamaProcess {
  private child?: ChildProcess;
  port = 0;

  constructor(
    readonly name: string,
    readonly models: string[],
    readonly tokenDelayMs = 0,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const child = spawn(
      process.execPath,
      [
        STANDIN,
        "--name",
        this.name,
        "--models",
        this.models.join(","),
        "--port",
        String(this.port),
        "--token-delay-ms",
        String(this.tokenDelayMs),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    this.child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`${this.name} stand-in exited (${code}) before listening`)));
    });
    return this;
  }

  kill(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return Promise.resolve();
    return new Promise((r) => {
      c.once("exit", () => r());
      c.kill("SIGKILL");
    });
  }
}

/** The plan's own tier-routing.json, pointed at the stand-ins, with test-sized timings. */
export function routingFor(anvil: string, forge: string, claudeUrl = "http://127.0.0.1:9"): InferenceConfig {
  const plan = loadRoutingFile(join(EXAMPLES, "tier-routing.json"));
  const urls: Record<string, string> = { anvil, forge };
  return {
    ...plan,
    source: "test",
    hosts: plan.hosts.map((h) => ({ ...h, url: urls[h.name], healthTimeout: 1000 })),
    claude: {
      ...plan.claude,
      apiKey: { scheme: "env", target: "TEST_ANTHROPIC_KEY", text: "env:TEST_ANTHROPIC_KEY" },
      baseUrl: claudeUrl,
      maxTokens: 1024,
      timeout: 30_000,
    },
    monitor: { interval: 200, failAfter: 2, recoverAfter: 2, healthFile: "", overrideFile: "" },
    proxy: {
      ...plan.proxy,
      listen: "127.0.0.1:0",
      responseTimeout: 30_000,
      idleTimeout: 30_000,
      maxBodyBytes: 1 << 20,
    },
  };
}

export const ANVIL_MODELS = ["llama3.1:8b", "qwen2.5-coder:32b", "nomic-embed-text"];
export const FORGE_MODELS = ["llama3.1:8b", "qwen2.5-coder:32b-instruct-q8_0", "qwen3:32b", "nomic-embed-text"];

export interface RunningProxy {
  url: string;
  proxy: InferenceProxy;
  monitor: HealthMonitor;
  metrics: ProxyMetrics;
  close(): Promise<void>;
}

export async function startProxy(
  cfg: InferenceConfig,
  opts: { token?: string; claudeKey?: string; healthFile?: string; overrideFile?: string } = {},
): Promise<RunningProxy> {
  const log = pino({ level: "silent" });
  const monitor = new HealthMonitor(cfg, { log, healthFile: opts.healthFile, overrideFile: opts.overrideFile });
  const metrics = new ProxyMetrics();
  const proxy = new InferenceProxy({
    cfg,
    monitor,
    router: new Router(cfg),
    metrics,
    log,
    token: opts.token,
    claudeKey: async () => opts.claudeKey ?? "",
  });
  await monitor.start();
  const addr = await proxy.listen("127.0.0.1", 0);
  return {
    url: `http://127.0.0.1:${addr.port}`,
    proxy,
    monitor,
    metrics,
    close: async () => {
      await proxy.close();
      await monitor.stop();
    },
  };
}
