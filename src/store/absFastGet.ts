import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { TokenCredential } from "@azure/identity";

/** The REST API version the hot path speaks (Get Blob has been stable across versions). */
const API_VERSION = "2021-08-06";

/**
 * Get Blob over plain HTTP keep-alive, signed with Shared Key or a bearer token: the follower's hot path.
 * The SDK spends about 3 ms of CPU per request; at one segment per database per second that alone would cost
 * the standby more CPU than Litestream spends on the primary. Everything else still goes through the SDK.
 */
export class AbsFastGet {
  private token?: { value: string; expiresAt: number };
  private readonly agent: http.Agent;

  constructor(
    private readonly account: string,
    private readonly endpoint: string,
    private readonly container: string,
    private readonly auth: { accountKey: Buffer } | { credential: TokenCredential },
  ) {
    this.agent = endpoint.startsWith("https:")
      ? new https.Agent({ keepAlive: true, maxSockets: 16 })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  private request(url: URL, headers: Record<string, string>): Promise<{ status: number; body: Buffer }> {
    const mod = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method: "GET", headers, agent: this.agent, timeout: 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("timed out after 30s")));
      req.on("error", reject);
      req.end();
    });
  }

  private async authorization(path: string, date: string): Promise<string> {
    if ("accountKey" in this.auth) {
      // https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key (Blob, version 2009-09-19+)
      const headers = `x-ms-date:${date}\nx-ms-version:${API_VERSION}\n`;
      const resource = `/${this.account}${path}`;
      const toSign = `GET\n\n\n\n\n\n\n\n\n\n\n\n${headers}${resource}`;
      const sig = createHmac("sha256", this.auth.accountKey).update(toSign, "utf8").digest("base64");
      return `SharedKey ${this.account}:${sig}`;
    }
    if (!this.token || Date.now() > this.token.expiresAt - 120_000) {
      const t = await this.auth.credential.getToken("https://storage.azure.com/.default");
      if (!t) throw new Error("no token for Azure Storage from the service principal");
      this.token = { value: t.token, expiresAt: t.expiresOnTimestamp };
    }
    return `Bearer ${this.token.value}`;
  }

  /** The blob's bytes, or undefined when it does not exist. */
  async get(key: string): Promise<Buffer | undefined> {
    const url = new URL(
      `${this.endpoint.replace(/\/$/, "")}/${this.container}/${key.split("/").map(encodeURIComponent).join("/")}`,
    );
    const date = new Date().toUTCString();
    let lastError: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const res = await this.request(url, {
          "x-ms-date": date,
          "x-ms-version": API_VERSION,
          authorization: await this.authorization(url.pathname, date),
        });
        if (res.status === 404) return undefined;
        if (res.status >= 200 && res.status < 300) return res.body;
        const code = /<Code>([^<]+)<\/Code>/.exec(res.body.toString("utf8"))?.[1] ?? "error";
        if (res.status < 500 && res.status !== 408 && res.status !== 429)
          throw Object.assign(new Error(`GET ${key}: ${res.status} ${code}`), { statusCode: res.status, final: true });
        lastError = new Error(`GET ${key}: ${res.status} ${code}`);
      } catch (e) {
        if ((e as { final?: boolean }).final) throw e;
        lastError = e;
      }
      await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
    }
    throw lastError;
  }
}
