import type { SecretRef } from "../config/secretRef";
import type { UnderstudyConfig } from "../config/types";
import { resolveSecretFrom } from "../secrets/resolve";
import { storeBackend } from "../store/open";
import { UserError } from "../util/errors";

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

export interface SecretCheck {
  field: string;
  reference: string;
  /** The reference that answered (for a chain, which layer); undefined when none did. */
  answeredBy?: string;
  /** Layers tried before it, and why each did not answer. */
  tried: string[];
  error?: string;
}

/** Resolves every secret the config names, here and now: which layer answered each, or the one error. */
export async function checkSecrets(cfg: UnderstudyConfig): Promise<SecretCheck[]> {
  const rows: SecretCheck[] = [];
  for (const { field, ref } of secretsNeeded(cfg)) {
    try {
      const r = await resolveSecretFrom(ref, field);
      rows.push({ field, reference: ref.text, answeredBy: r.from, tried: r.tried.map((t) => `${t.ref}: ${t.error}`) });
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      rows.push({ field, reference: ref.text, tried: [], error: e.message });
    }
  }
  return rows;
}
