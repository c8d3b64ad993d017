/**
 * A stand-in for Azure Key Vault's REST API and the Azure AD token endpoint behind it, following their
 * documented behaviour: GET /secrets/NAME without a token answers 401 with the challenge
 * (`WWW-Authenticate: Bearer authorization="AUTHORITY/TENANT", resource="…"`); the client gets a token with
 * client credentials from AUTHORITY/TENANT/oauth2/v2.0/token (after MSAL reads the tenant's
 * openid-configuration) and asks again; 404 SecretNotFound, 403 Forbidden; TLS, as the SDK requires for bearer
 * tokens. Every request is recorded (path, and whether it carried a token) so tests can check what crossed.
 */
import { randomBytes } from "node:crypto";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface KeyVaultStandin {
  url: string;
  requests: { method: string; path: string; auth: boolean; body: string }[];
  close(): Promise<void>;
}

export async function startKeyVaultStandin(o: {
  cert: string;
  key: string;
  tenant: string;
  clientId: string;
  clientSecret: string;
  secrets: Record<string, string>;
  forbidden?: string[];
}): Promise<KeyVaultStandin> {
  const tokens = new Set<string>();
  const requests: KeyVaultStandin["requests"] = [];
  let base = "";
  const server = https.createServer({ cert: o.cert, key: o.key }, async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const url = new URL(req.url ?? "/", base);
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    requests.push({ method: req.method ?? "", path: url.pathname, auth: !!auth, body });
    const json = (status: number, v: unknown, headers: Record<string, string> = {}) =>
      res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(v));
    const t = `/${o.tenant}`;
    if (url.pathname === `${t}/v2.0/.well-known/openid-configuration`)
      return json(200, {
        token_endpoint: `${base}${t}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}${t}/oauth2/v2.0/authorize`,
        issuer: `${base}${t}/v2.0`,
        jwks_uri: `${base}${t}/discovery/v2.0/keys`,
        response_types_supported: ["code", "id_token", "token"],
        subject_types_supported: ["pairwise"],
        id_token_signing_alg_values_supported: ["RS256"],
      });
    if (url.pathname === `${t}/oauth2/v2.0/token` && req.method === "POST") {
      const f = new URLSearchParams(body);
      if (f.get("client_id") !== o.clientId || f.get("client_secret") !== o.clientSecret)
        return json(401, {
          error: "invalid_client",
          error_description: "AADSTS7000215: Invalid client secret provided.",
        });
      const token = randomBytes(24).toString("hex");
      tokens.add(token);
      return json(200, { token_type: "Bearer", expires_in: 3599, ext_expires_in: 3599, access_token: token });
    }
    const m = /^\/secrets\/([A-Za-z0-9-]+)\/?([A-Za-z0-9]*)$/.exec(url.pathname);
    if (m && req.method === "GET") {
      if (!auth || !tokens.has(auth))
        return json(
          401,
          { error: { code: "Unauthorized", message: "AKV10000: Request is missing a Bearer or PoP token." } },
          {
            "www-authenticate": `Bearer authorization="${base}/${o.tenant}", resource="https://127.0.0.1"`,
          },
        );
      const name = m[1];
      if (o.forbidden?.includes(name))
        return json(403, {
          error: { code: "Forbidden", message: "The user, group or application does not have secrets get permission" },
        });
      const value = o.secrets[name];
      if (value === undefined)
        return json(404, {
          error: {
            code: "SecretNotFound",
            message: `A secret with (name/id) ${name} was not found in this key vault.`,
          },
        });
      const now = Math.floor(Date.now() / 1000);
      return json(200, {
        value,
        id: `${base}/secrets/${name}/0123456789abcdef0123456789abcdef`,
        attributes: { enabled: true, created: now, updated: now, recoveryLevel: "Recoverable+Purgeable" },
        tags: {},
      });
    }
    return json(404, { error: { code: "NotFound", message: `no ${req.method} ${url.pathname}` } });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
