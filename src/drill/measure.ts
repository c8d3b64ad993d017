import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import Database from "better-sqlite3";

/** The understudy CLI of this install, run as the operator would. */
export const BIN = resolve(__dirname, "..", "..", "..", "bin", "understudy.js");

import { sleep } from "../util/timeout";

export { sleep };

type Maybe<T> = T | undefined | false;

/** Polls `fn` every 100 ms until it gives a value; rejects after `ms`, naming what it waited for. */
export async function until<T>(what: string, fn: () => Maybe<T> | Promise<Maybe<T>>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)}s waiting for ${what}`);
    await sleep(100);
  }
}

export function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) =>
    execFile(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/**
 * The plan's baseline figure in one database file: `SELECT count(*) FROM tasks WHERE status='open'`; undefined
 * without the file or such a table.
 */
export function openTasks(path: string): number | undefined {
  if (!existsSync(path)) return undefined;
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    const has = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'tasks'").pluck().get();
    return has ? (db.prepare("SELECT count(*) FROM tasks WHERE status = 'open'").pluck().get() as number) : undefined;
  } finally {
    db.close();
  }
}

/**
 * The plan's test prompt, sent through the inference proxy as a client would (non-streaming, with the proxy's
 * token when it has one). Resolves to who answered (the proxy's x-understudy-target) once an answer with text
 * comes back; undefined on any failure (the caller retries while the monitor notices the lost host).
 */
export async function testPrompt(
  proxyUrl: string,
  o: { model: string; tier?: string; token?: string; timeoutMs?: number },
): Promise<{ target: string; text: string } | undefined> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (o.tier) headers["x-understudy-tier"] = o.tier;
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  const res = await fetch(`${proxyUrl}/api/generate`, {
    method: "POST",
    headers,
    body: JSON.stringify({ model: o.model, prompt: "DR drill: are you there?", stream: false }),
    signal: AbortSignal.timeout(o.timeoutMs ?? 30_000),
  }).catch(() => undefined);
  if (res?.status !== 200) return undefined;
  const body = (await res.json().catch(() => ({}))) as { response?: string };
  return body.response ? { target: res.headers.get("x-understudy-target") ?? "", text: body.response } : undefined;
}
