import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, lstatSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import pino from "pino";
import { AZURITE_KEY } from "../src/demo/azurite";
import { DnsResponder } from "../src/failover/discovery/dnsServer";
import { parseHosts } from "../src/failover/discovery/hostsFile";
import { HealthServer } from "../src/health/server";
import { Replicator } from "../src/replicate/replicator";
import { useAzurite } from "./helpers/azurite";
import { cli, tempDir, waitFor } from "./helpers/env";
import { extendConfig, makeFleet, SMALL_FLEET } from "./helpers/fleet";
import { ANVIL_MODELS, FORGE_MODELS, OllamaProcess, routingFor, startProxy } from "./helpers/inference";
import { understudyProcess } from "./helpers/standby";

const azurite = useAzurite();

/** Request lines and raw bytes that have stopped servers: each must get an answer, and the server live on. */
const HOSTILE = [
  "GET //[ HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET //x:99999/ HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET //% HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /standby?lag=%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
  "GET /v1/models/%E0 HTTP/1.1\r\nHost: x\r\n\r\n",
  "\x00\x01\x02garbage\r\n\r\n",
  `GET /${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  "POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull",
  "POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]",
  'POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{"a":',
  "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull",
];

/** Sends raw bytes; resolves with the status line the server answered, or "closed" when it only hung up. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    let got = "";
    s.setTimeout(5000, () => s.destroy());
    s.on("data", (d) => {
      got += d.toString("latin1");
      if (got.includes("\r\n")) s.destroy();
    });
    s.on("error", () => undefined);
    s.on("close", () => resolve(got.split("\r\n")[0] || "closed"));
    s.write(bytes, "latin1");
  });
}

async function assertSurvives(name: string, port: number, probe: string, extraHeaders = ""): Promise<void> {
  for (const req of HOSTILE) {
    const line = await raw(port, extraHeaders ? req.replace("\r\n", `\r\n${extraHeaders}`) : req);
    assert.match(line, /^HTTP\/1\.1 [45]\d\d |^closed$/, `${name}: ${JSON.stringify(req.slice(0, 40))} → ${line}`);
    assert.doesNotMatch(line, /^HTTP\/1\.1 500/, `${name}: ${JSON.stringify(req.slice(0, 40))} is the client's fault`);
    const ok = await fetch(`http://127.0.0.1:${port}${probe}`, {
      headers: extraHeaders ? { authorization: extraHeaders.split(": ")[1].trim() } : {},
    });
    assert.equal(ok.status, 200, `${name} still serves after ${JSON.stringify(req.slice(0, 40))}`);
  }
}

test("every HTTP server answers malformed requests with a 4xx and keeps serving: health, proxy, replicate and follow metrics", async (t) => {
  const dir = tempDir(t, "http-fuzz");
  const { cfg, file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const health = new HealthServer({ node: cfg.nodes[0], readyLagMs: 60_000 });
  const hp = (await health.listen("127.0.0.1", 0)).port;
  t.after(() => health.close());
  await assertSurvives("health", hp, "/liveness");

  const anvil = await new OllamaProcess("anvil", ANVIL_MODELS).start();
  const forge = await new OllamaProcess("forge", FORGE_MODELS).start();
  t.after(async () => {
    await anvil.kill();
    await forge.kill();
  });
  const p = await startProxy(routingFor(anvil.url, forge.url), { token: "tok" });
  t.after(() => p.close());
  const port = Number(new URL(p.url).port);
  await assertSurvives("proxy", port, "/api/version", "Authorization: Bearer tok\r\n");
  // The proxy's own answers to bad bodies and paths: 400 with the reason, never an internal message.
  const post = (body: string) =>
    fetch(`${p.url}/api/chat`, { method: "POST", headers: { authorization: "Bearer tok" }, body });
  const nul = await post("null");
  assert.equal(nul.status, 400);
  assert.match(await nul.text(), /request body must be a JSON object/);
  const bad = await fetch(`${p.url}/v1/models/%E0`, { headers: { authorization: "Bearer tok" } });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /malformed percent-encoding/);
  // With a token, / and /metrics need it too; and requests for unknown paths do not grow the metrics.
  assert.equal((await fetch(`${p.url}/metrics`)).status, 401);
  assert.equal((await fetch(`${p.url}/`)).status, 401);
  const metrics = async () =>
    (await (await fetch(`${p.url}/metrics`, { headers: { authorization: "Bearer tok" } })).text()).length;
  const size0 = await metrics();
  for (let i = 0; i < 300; i++)
    await fetch(`${p.url}/api/probe-${i}`, { headers: { authorization: "Bearer tok" } }).then((r) => r.arrayBuffer());
  assert.ok((await metrics()) - size0 < 2000, "300 distinct unknown paths add no label values");
  assert.doesNotMatch(
    await (await fetch(`${p.url}/metrics`, { headers: { authorization: "Bearer tok" } })).text(),
    /probe-/,
  );

  const r = new Replicator(cfg, cfg.nodes[0], { log: pino({ level: "silent" }), metricsListen: "127.0.0.1:0" });
  t.after(() => r.stop());
  await r.start();
  await assertSurvives("replicate metrics", Number(r.metricsAddress()?.split(":")[1]), "/metrics");

  const metricsPort = await new Promise<number>((res) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => res(a.port));
    });
  });
  understudyProcess(t, ["follow", "--config", file, "--metrics-listen", `127.0.0.1:${metricsPort}`]);
  await waitFor("the follower's metrics", () =>
    fetch(`http://127.0.0.1:${metricsPort}/metrics`).then(
      (x) => x.status === 200,
      () => false,
    ),
  );
  await assertSurvives("follow metrics", metricsPort, "/metrics");
});

test("the DNS responder ignores or refuses malformed packets and keeps answering", async (t) => {
  const dir = tempDir(t, "dns-fuzz");
  const records = join(dir, "records.json");
  writeFileSync(records, JSON.stringify({ "anvil.alai": "10.0.0.2" }));
  const d = new DnsResponder(records, "alai", 5);
  const port = await d.listen("127.0.0.1", 0);
  t.after(() => d.close());
  const client = dgram.createSocket("udp4");
  t.after(() => new Promise<void>((r) => client.close(() => r())));
  const query = (name: string) => {
    const labels = name.split(".").map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
    const q = Buffer.concat([
      Buffer.from([0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
      ...labels,
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    return q;
  };
  const ask = (msg: Buffer) =>
    new Promise<Buffer | undefined>((resolve) => {
      const onMsg = (m: Buffer) => {
        clearTimeout(timer);
        client.off("message", onMsg);
        resolve(m);
      };
      const timer = setTimeout(() => {
        client.off("message", onMsg);
        resolve(undefined);
      }, 300);
      client.on("message", onMsg);
      client.send(msg, port, "127.0.0.1");
    });
  const hostile = [
    Buffer.alloc(0),
    Buffer.from([1, 2, 3]),
    Buffer.alloc(12),
    Buffer.concat([query("anvil.alai").subarray(0, 14)]),
    Buffer.concat([Buffer.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([200, 1, 2])]),
    Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]),
    Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37) & 0xff)),
  ];
  for (const h of hostile) await ask(h);
  const a = await ask(query("anvil.alai"));
  assert.ok(a, "still answers");
  assert.equal(a[3] & 0x0f, 0, "NOERROR");
  assert.deepEqual([...a.subarray(a.length - 4)], [10, 0, 0, 2]);
  // A records file caught half-edited: the last good answers stand, and the responder says why.
  writeFileSync(records, "{not json");
  await new Promise((res) => setTimeout(res, 250));
  const stale = await ask(query("anvil.alai"));
  assert.ok(stale);
  assert.deepEqual([...stale.subarray(stale.length - 4)], [10, 0, 0, 2], "the last good answer, not NXDOMAIN");
  assert.match(d.unreadable ?? "", /not valid JSON/);
  // A responder that never read a good file: SERVFAIL, and it lives on.
  const d2 = new DnsResponder(records, "alai", 5);
  const port2 = await d2.listen("127.0.0.1", 0);
  t.after(() => d2.close());
  const sf = await new Promise<Buffer>((resolve) => {
    client.once("message", (m) => resolve(m));
    client.send(query("anvil.alai"), port2, "127.0.0.1");
  });
  assert.equal(sf[3] & 0x0f, 2, "SERVFAIL while the records file is unreadable");
});

test("discovery point: 40 concurrent runs keep every update; a symlinked hosts file is updated where it points", async (t) => {
  const dir = tempDir(t, "hosts-concurrent");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1));
  const target = join(dir, "real-hosts");
  writeFileSync(target, "127.0.0.1\tlocalhost\n");
  const link = join(dir, "hosts");
  symlinkSync(target, link);
  const runs = Array.from({ length: 40 }, (_, i) =>
    cli(["discovery", "point", `svc${i}.alai`, "--address", `10.1.0.${i + 1}`, "--config", file, "--hosts-file", link]),
  );
  const results = await Promise.all(runs);
  assert.deepEqual(
    results.filter((r) => r.code !== 0).map((r) => r.stderr),
    [],
    "every run succeeded",
  );
  assert.ok(lstatSync(link).isSymbolicLink(), "the symlink is still a symlink");
  assert.equal(realpathSync(link), target);
  const entries = parseHosts(readFileSync(target, "utf8")).entries;
  assert.equal(entries.size, 40, "no update was lost");
  for (let i = 0; i < 40; i++) assert.equal(entries.get(`svc${i}.alai`), `10.1.0.${i + 1}`);
  assert.match(readFileSync(target, "utf8"), /^127\.0\.0\.1\tlocalhost$/m, "lines outside the block are kept");
  assert.ok(!existsSync(join(dir, ".real-hosts.understudy-")), "no temp file left");
  const before = readFileSync(target, "utf8");
  const evil = await cli([
    "discovery",
    "point",
    "anvil.alai",
    "--address",
    "1.2.3.4\n6.6.6.6\tevil.example",
    "--config",
    file,
    "--hosts-file",
    link,
  ]);
  assert.equal(evil.code, 2);
  assert.equal(readFileSync(target, "utf8"), before, "nothing written");
});

test("Litestream gets no secret of its parent; replicate stops within its deadline when the store stops answering", async (t) => {
  const dir = tempDir(t, "least-privilege");
  await azurite.container("privilege");
  const { file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1), {
    store: { type: "abs", endpoint: azurite.server.endpoint, container: "privilege", keyEnv: "HARDENING_KEY" },
  });
  const secrets = {
    ANTHROPIC_API_KEY: "sk-ant-secret-for-hardening-test",
    SLACK_OPS_WEBHOOK: "https://hooks.example/secret-webhook",
    UNDERSTUDY_PROXY_TOKEN: "proxy-secret-token",
    AZURE_CLIENT_SECRET: "azure-client-secret-value",
    HARDENING_KEY: AZURITE_KEY,
  };
  const { child, exited, stderr } = understudyProcess(
    t,
    ["replicate", "--config", file, "--metrics-listen", ""],
    secrets,
  );
  const lsPid = await waitFor(
    "litestream to start",
    () => Number(/"pid":(\d+),"restarts"/.exec(stderr())?.[1]) || undefined,
  );
  const environ = existsSync(`/proc/${lsPid}/environ`)
    ? readFileSync(`/proc/${lsPid}/environ`, "utf8").split("\0")
    : execFileSync("ps", ["eww", "-o", "command=", "-p", String(lsPid)], { encoding: "utf8" }).split(" ");
  for (const [k, v] of Object.entries(secrets).filter(([k]) => k !== "HARDENING_KEY"))
    assert.ok(!environ.some((e) => e.includes(v)), `${k} is not in Litestream's environment`);
  assert.ok(environ.includes(`LITESTREAM_AZURE_ACCOUNT_KEY=${AZURITE_KEY}`), "the account key it needs is");
  // The store stops answering (a hung Azure endpoint); a stop must still be prompt.
  await new Promise((res) => setTimeout(res, 1500));
  const pid = azurite.server.pid as number;
  process.kill(pid, "SIGSTOP");
  t.after(() => {
    process.kill(pid, "SIGCONT");
  });
  const t0 = Date.now();
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr());
  const took = Date.now() - t0;
  process.kill(pid, "SIGCONT");
  // The deadline is 25 s (under the services' 30 s); the margin is for a slow machine, not for the store.
  assert.ok(took < 35_000, `stopped in ${took} ms`);
  assert.match(stderr(), /stopped without publishing the final positions: the store did not answer/);
});

test("replicate with a store that never answers waits for the lease (and says so) and stops at once when asked", async (t) => {
  const dir = tempDir(t, "blackhole");
  const sockets = new Set<net.Socket>();
  const blackhole = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => blackhole.listen(0, "127.0.0.1", () => r()));
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => blackhole.close(() => r()));
  });
  const port = (blackhole.address() as net.AddressInfo).port;
  const { cfg, file } = await makeFleet(dir, SMALL_FLEET.slice(0, 1), {
    store: {
      type: "abs",
      endpoint: `http://127.0.0.1:${port}/devstoreaccount1`,
      container: "c",
      keyEnv: "HARDENING_KEY",
    },
  });
  extendConfig(file, "failover: { lease-ttl: 3s }");
  const { child, exited, stderr } = understudyProcess(t, ["replicate", "--config", file, "--metrics-listen", ""], {
    HARDENING_KEY: AZURITE_KEY,
  });
  const stateFile = join(cfg.nodes[0].stateDir, "replicate-state.json");
  await waitFor("replicate to say what it waits for", () =>
    existsSync(stateFile) ? /the lease: the store does not answer/.test(readFileSync(stateFile, "utf8")) : false,
  );
  assert.doesNotMatch(stderr(), /litestream started/, "nothing is uploaded without the lease");
  const t0 = Date.now();
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr());
  assert.ok(Date.now() - t0 < 15_000, `stopped in ${Date.now() - t0} ms`);
});
