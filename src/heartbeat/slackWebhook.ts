import { fetchFailure } from "../util/net";
import { type Notifier, NotifyError } from "./notifier";

/**
 * Slack incoming webhook (api.slack.com/messaging/webhooks): POST {"text": …} as JSON, Slack answers 200 "ok".
 * The URL is the secret; errors say which notifier failed and what Slack answered, never the URL.
 */
export class SlackWebhookNotifier implements Notifier {
  constructor(
    readonly label: string,
    private readonly url: string,
    private readonly timeoutMs = 10_000,
  ) {}

  async send(text: string): Promise<void> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      throw new NotifyError(`${this.label}: webhook unreachable (${fetchFailure(e, this.timeoutMs)})`);
    }
    const body = (await res.text()).slice(0, 200);
    if (!res.ok) throw new NotifyError(`${this.label}: webhook answered HTTP ${res.status} ${body}`);
  }
}
