import type { SecretRef } from "../config/secretRef";
import type { UnderstudyConfig } from "../config/types";
import { storeBackend } from "../store/open";

/** Every secret reference the config names, with its field: what a node may need to resolve on its own. */
export function secretsNeeded(cfg: UnderstudyConfig): { field: string; ref: SecretRef }[] {
  const out: { field: string; ref: SecretRef | undefined }[] = [
    ...storeBackend(cfg.store).secrets(),
    { field: "inference.claude.api-key", ref: cfg.inference?.claude.apiKey },
    { field: "inference.proxy.token", ref: cfg.inference?.proxy.token },
    { field: "heartbeat.slack-webhook", ref: cfg.heartbeat.slackWebhook },
    { field: "heartbeat.escalation-webhook", ref: cfg.heartbeat.escalationWebhook },
    { field: "secrets.bitwarden.password", ref: cfg.secrets.bitwarden.password },
  ];
  return out.filter((x): x is { field: string; ref: SecretRef } => !!x.ref);
}
