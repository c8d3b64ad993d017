import type { ClaudeConfig, MonitorConfig, ProxyConfig } from "./inferenceTypes";

export const DEFAULT_MONITOR: MonitorConfig = {
  interval: 15_000,
  failAfter: 2,
  recoverAfter: 2,
  healthFile: "/tmp/ollama-health.json",
  overrideFile: "/tmp/ollama-health-override.json",
};

export const DEFAULT_PROXY: ProxyConfig = {
  listen: "127.0.0.1:11435",
  responseTimeout: 300_000,
  connectTimeout: 2000,
  idleTimeout: 120_000,
  maxBodyBytes: 64 * 1024 * 1024,
};

export const DEFAULT_CLAUDE: ClaudeConfig = {
  apiKey: { scheme: "env", target: "ANTHROPIC_API_KEY", text: "env:ANTHROPIC_API_KEY" },
  baseUrl: "https://api.anthropic.com",
  model: "claude-sonnet-4-5",
  models: {},
  maxTokens: 4096,
  timeout: 600_000,
};

export const DEFAULT_HEALTH_PATH = "/api/tags";
export const DEFAULT_HEALTH_TIMEOUT = 3000;
