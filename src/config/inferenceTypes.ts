import type { SecretRef } from "./secretRef";

/** One Ollama server the fleet can send inference to. */
export interface InferenceHost {
  name: string;
  url: string;
  /** The same server's address across the tailnet, used with --tailscale (from the other node). */
  tailscaleUrl?: string;
  healthPath: string;
  healthTimeout: number;
  role?: string;
  /** Tiers this host owns: requests naming one of them go here while it is healthy. */
  tiers: string[];
}

export type FailoverTarget = { kind: "host"; host: string; models: Record<string, string> } | { kind: "claude" };

/** What to do with a host's requests while it is down (the plan's `anvil-down` / `forge-down`). */
export interface FailoverRule {
  name: string;
  /** The host whose outage triggers the rule. */
  down: string;
  tiers: string[];
  to: FailoverTarget;
  note?: string;
}

export interface ClaudeConfig {
  apiKey: SecretRef;
  baseUrl: string;
  /** The Claude model used when an Ollama model has no entry in `models`. */
  model: string;
  models: Record<string, string>;
  /** max_tokens when the request sets no num_predict / max_tokens (Anthropic requires one). */
  maxTokens: number;
  timeout: number;
}

export interface MonitorConfig {
  interval: number;
  /** Consecutive failed checks before a healthy host is called unhealthy. */
  failAfter: number;
  /** Consecutive good checks before an unhealthy host is called healthy again. */
  recoverAfter: number;
  healthFile: string;
  overrideFile: string;
}

export interface ProxyConfig {
  listen: string;
  token?: SecretRef;
  /** How long to wait for an upstream's response headers (model loads can take minutes). */
  responseTimeout: number;
  connectTimeout: number;
  /** Longest silence allowed inside a streaming response before the client gets an in-band error. */
  idleTimeout: number;
  maxBodyBytes: number;
}

export interface InferenceConfig {
  /** The file the hosts and rules came from, for messages. */
  source: string;
  hosts: InferenceHost[];
  rules: FailoverRule[];
  claude: ClaudeConfig;
  monitor: MonitorConfig;
  proxy: ProxyConfig;
}
