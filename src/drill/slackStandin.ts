import { createServer, type Server } from "node:http";
import { closeHttp, listenHttp, safeHandler } from "../util/net";

/**
 * A stand-in for a Slack incoming webhook (api.slack.com/messaging/webhooks): accepts POST {"text": …} as JSON and
 * answers 200 "ok", as Slack does, recording each message with the moment it was accepted — what the drill
 * measures alert latency against.
 */
export class SlackStandin {
  readonly messages: { at: number; text: string }[] = [];
  private readonly server: Server;

  constructor() {
    this.server = createServer(
      safeHandler(async (req, res) => {
        if (req.method !== "POST") return void res.writeHead(405).end("method_not_allowed");
        let body = "";
        for await (const c of req) body += c;
        let text: unknown;
        try {
          text = (JSON.parse(body) as { text?: unknown }).text;
        } catch {
          return void res.writeHead(400).end("invalid_payload");
        }
        if (typeof text !== "string" || !text) return void res.writeHead(400).end("no_text");
        this.messages.push({ at: Date.now(), text });
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      }),
    );
  }

  async listen(): Promise<string> {
    const a = await listenHttp(this.server, "127.0.0.1", 0);
    return `http://127.0.0.1:${a.port}/services/T000/B000/drill`;
  }

  close(): Promise<void> {
    return closeHttp(this.server);
  }
}
