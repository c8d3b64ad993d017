import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { effective, loadConfig } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { createFleet } from "../demo/fleet";
import { fleetConfigYaml } from "../demo/fleetConfig";
import { INVENTORY_FILE } from "../demo/runDemo";
import { WRITER } from "../demo/writerProcess";
import { type LeaseRecord, leaseKey } from "../failover/lease";
import { loadInventory } from "../fleet/inventory";
import { digestDatabase } from "../fleet/rowHash";
import { buildFromReplica } from "../follower/build";
import { litestreamBinary, litestreamVersion } from "../litestream/binary";
import { readNodeState } from "../node/state";
import { type PositionsManifest, readManifest } from "../replica/manifest";
import { openStore, replicaPrefix } from "../store/open";
import { freePort, httpStatus } from "../util/net";
import type { DrillMeasurements } from "./criteria";
import { SlackStandin } from "./slackStandin";

const BIN = resolve(__dirname, "..", "..", "..", "bin", "understudy.js");
const OLLAMA = resolve(__dirname, "ollamaStandin.js");

/** What a drill can be told to get wrong, to prove that it notices (each fails one criterion). */
export const BREAKS = ["heartbeat-webhook", "replication", "p0-database"] as const;
export type DrillBreak = (typeof BREAKS)[number];

export interface LocalDrillOptions {
  fast: boolean;
  /** The operator promotes (after the alert), instead of failover.mode automatic. */
  manual: boolean;
  scale: number;
  keep: boolean;
  break?: DrillBreak;
  progress: (line: string) => void;
}

/** The plan's timings, and the same scaled down for CI (`--fast`), which the report says. */
function timings(fast: boolean) {
  return fast
    ? { heartbeat: "2s", hbTimeout: "1s", ttl: "3s", check: "500ms", monitor: "1s", writes: 10 }
    : { heartbeat: "60s", hbTimeout: "10s", ttl: "15s", check: "5s", monitor: "15s", writes: 5 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Maybe<T> = T | undefined | false;

async function until<T>(what: string, fn: () => Maybe<T> | Promise<Maybe<T>>, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(ms / 1000)}s waiting for ${what}`);
    await sleep(100);
  }
}

function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) =>
    execFile(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 }, (e, stdout, stderr) =>
      res({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** Ids and the creation time of each row of `items`, and the open tasks, of one database. */
function contents(path: string): { ids: number[]; created: Map<number, string>; openTasks?: number } {
  const db = new Database(path, { readonly: true, timeout: 5000 });
  try {
    // Someone else's file in its place has no items: nothing of the fleet's is in it.
    const hasItems = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'items'").pluck().get();
    const rows = (hasItems ? db.prepare("SELECT id, created_at FROM items ORDER BY id").all() : []) as {
      id: number;
      created_at: string;
    }[];
    const hasTasks = db.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'tasks'").pluck().get();
    return {
      ids: rows.map((r) => r.id),
      created: new Map(rows.map((r) => [r.id, r.created_at])),
      openTasks: hasTasks
        ? (db.prepare("SELECT count(*) FROM tasks WHERE status = 'open'").pluck().get() as number)
        : undefined,
    };
  } finally {
    db.close();
  }
}

interface Group {
  name: string;
  child: ChildProcess;
}

/**
 * `understudy drill --local`: the plan's §8 drill on one machine. Two nodes as process groups of their own
 * (`understudy run`, `health serve`, an Ollama stand-in and, on the primary, the applications; on the standby also
 * the inference monitor and proxy), a file store, an outside heartbeat watcher posting to a Slack stand-in.
 * Power loss of the primary's whole group, then failover, checks on the survivor, the old primary's return
 * (`rejoin`) and the failback (`switchover`), every moment measured. Returns the measurements; the criteria and
 * the report are criteria.ts's and report.ts's.
 */
export async function runLocalDrill(o: LocalDrillOptions): Promise<{ m: DrillMeasurements; dir: string }> {
  const t = timings(o.fast);
  const dir = mkdtempSync(join(tmpdir(), "understudy-drill-"));
  const groups: Group[] = [];
  const slack = new SlackStandin();
  const say = o.progress;
  const m: DrillMeasurements = {
    startedAt: new Date().toISOString(),
    fast: o.fast,
    mode: o.manual ? "manual" : "automatic",
    timings: t,
    broken: o.break,
    steps: [],
    findings: [],
  };
  // Interrupted (Ctrl-C, a CI timeout): the groups it started go too, not left running under init.
  const interrupted = (sig: NodeJS.Signals) => {
    for (const g of groups)
      try {
        process.kill(-(g.child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    process.kill(process.pid, sig);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const t0 = Date.now();
  const step = (what: string) => {
    m.steps.push({ atMs: Date.now() - t0, what });
    say(`${((Date.now() - t0) / 1000).toFixed(1).padStart(7)}s  ${what}`);
  };
  try {
    const slackUrl = await slack.listen();
    const ports = {
      anvil: await freePort(),
      forge: await freePort(),
      ollamaAnvil: await freePort(),
      ollamaForge: await freePort(),
      proxy: await freePort(),
    };
    const inventory = loadInventory(INVENTORY_FILE);
    const dataDir = join(dir, "anvil");
    createFleet(dataDir, inventory, o.scale);
    const logs = join(dir, "logs");
    mkdirSync(logs, { recursive: true });
    const pidFile = join(dir, "apps-$UNDERSTUDY_NODE.pid");
    const demote = `p=$(cat ${pidFile} 2>/dev/null) && kill -TERM $p && while kill -0 $p 2>/dev/null; do sleep 0.05; done; true`;
    let yaml = fleetConfigYaml({
      dataDir,
      standbyDir: join(dir, "forge"),
      stateDir: join(dir, "anvil-state"),
      store: { type: "file", path: join(dir, "store") },
      inventory,
      litestreamMetricsAddr: `127.0.0.1:${await freePort()}`,
      metricsListen: "",
      syncInterval: "1s",
      restartBackoffMin: "200ms",
      healthUrls: { primary: `http://127.0.0.1:${ports.anvil}`, standby: `http://127.0.0.1:${ports.forge}` },
    });
    // The plan's names for the two nodes.
    yaml = yaml
      .replace("  primary:\n    role: primary\n", "  anvil:\n    role: primary\n")
      .replace("  standby:\n    role: standby\n", "  forge:\n    role: standby\n")
      .replace(
        "replicate:\n",
        `failover:
  mode: ${o.manual ? "manual" : "automatic"}
  lease-ttl: ${t.ttl}
  check-interval: ${t.check}
  failed-checks: 3
  switchover-timeout: 90s
  hooks: { demote: ${JSON.stringify(demote)} }
health:
  ready-lag: 60s
heartbeat:
  targets: [http://127.0.0.1:${ports.anvil}/primary]
  interval: ${t.heartbeat}
  timeout: ${t.hbTimeout}
  alert-after: 2
  escalate-after: 5
  state-file: ${JSON.stringify(join(dir, "heartbeat-state.json"))}
${o.break === "heartbeat-webhook" ? "" : "  slack-webhook: env:UNDERSTUDY_DRILL_SLACK_WEBHOOK\n"}inference:
  hosts:
    anvil: { url: "http://127.0.0.1:${ports.ollamaAnvil}", health-path: /api/tags, health-timeout: 1s, tiers: ["1", "2"] }
    forge: { url: "http://127.0.0.1:${ports.ollamaForge}", health-path: /api/tags, health-timeout: 1s, tiers: ["3"] }
  failover:
    anvil-down: { to: forge, models: { "llama3.1:8b": "llama3.1:8b" } }
    forge-down: { to: claude }
  claude: { api-key: env:UNDERSTUDY_DRILL_CLAUDE_KEY }
  monitor:
    interval: ${t.monitor}
    fail-after: 2
    recover-after: 2
    health-file: ${JSON.stringify(join(dir, "ollama-health.json"))}
    override-file: ${JSON.stringify(join(dir, "ollama-override.json"))}
  proxy:
    listen: 127.0.0.1:${ports.proxy}
replicate:
`,
      );
    const file = join(dir, "understudy.yml");
    writeFileSync(file, yaml);
    const cfg: UnderstudyConfig = loadConfig(file);
    const [anvil, forge] = cfg.nodes;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      UNDERSTUDY_DRILL_SLACK_WEBHOOK: slackUrl,
      // Never called: FORGE's Ollama takes ANVIL's tiers; Claude is only the last resort if FORGE fails too.
      UNDERSTUDY_DRILL_CLAUDE_KEY: "drill-has-no-claude",
      UNDERSTUDY_LOG_LEVEL: "info",
    };
    const binary = litestreamBinary(cfg.litestream);
    m.litestream = `${binary} (${await litestreamVersion(binary)})`;
    const followed = cfg.databases.filter((d) => effective(cfg, d).follow).map((d) => d.name);
    const p0 = cfg.databases.filter((d) => d.tier.startsWith("P0")).map((d) => d.name);
    const names = cfg.databases.map((d) => d.name);
    step(
      `fleet: ${names.length} databases (${p0.length} P0, ${followed.length} followed) at ${o.scale} of the plan's sizes; store ${join(dir, "store")}; ${o.fast ? "FAST timings (scaled for CI)" : "the plan's timings"}: heartbeat every ${t.heartbeat}, alert after 2 failures, lease ${t.ttl}, failover ${m.mode}`,
    );
    if (o.break === "p0-database") {
      // Someone's stray copy where the standby's P0 copy belongs: the follower never replaces a file it did not make.
      const stray = join(forge.dataDir, p0[p0.length - 1]);
      mkdirSync(forge.dataDir, { recursive: true });
      new Database(stray).exec("CREATE TABLE notes (x)").close();
      step(`broken on purpose: a stray file stands where FORGE's copy of ${p0[p0.length - 1]} belongs`);
    }

    const node = (n: NodeConfig, cmd: string[]) => [process.execPath, BIN, ...cmd, "--config", file, "--node", n.name];
    const startGroup = (name: string, cmds: { log: string; argv: string[] }[]) => {
      const script = `${cmds.map((c) => `${c.argv.map(sh).join(" ")} >>${sh(join(logs, `${c.log}.log`))} 2>&1 &`).join("\n")}\nwait\n`;
      const child = spawn("sh", ["-c", script], { detached: true, stdio: "ignore", env });
      groups.push({ name, child });
      return child;
    };
    const apps = (n: NodeConfig) => ({
      log: `${n.name}-apps`,
      argv: [
        process.execPath,
        WRITER,
        n.dataDir,
        pidFile.replace("$UNDERSTUDY_NODE", n.name),
        String(t.writes),
        ...names,
      ],
    });
    const anvilGroup = (withApps: boolean) =>
      startGroup("anvil", [
        { log: "anvil-run", argv: node(anvil, ["run", "--metrics-listen", ""]) },
        { log: "anvil-health", argv: node(anvil, ["health", "serve", "--listen", `127.0.0.1:${ports.anvil}`]) },
        {
          log: "anvil-ollama",
          argv: [
            process.execPath,
            OLLAMA,
            "--name",
            "anvil",
            "--port",
            String(ports.ollamaAnvil),
            "--models",
            "llama3.1:8b",
          ],
        },
        ...(withApps ? [apps(anvil)] : []),
      ]);
    let anvilG = anvilGroup(true);
    startGroup("forge", [
      { log: "forge-run", argv: node(forge, ["run", "--metrics-listen", ""]) },
      { log: "forge-health", argv: node(forge, ["health", "serve", "--listen", `127.0.0.1:${ports.forge}`]) },
      {
        log: "forge-ollama",
        argv: [
          process.execPath,
          OLLAMA,
          "--name",
          "forge",
          "--port",
          String(ports.ollamaForge),
          "--models",
          "llama3.1:8b",
        ],
      },
      { log: "forge-inference-monitor", argv: node(forge, ["inference", "monitor"]) },
      { log: "forge-inference-proxy", argv: node(forge, ["inference", "proxy"]) },
    ]);
    startGroup("watcher", [
      { log: "heartbeat", argv: [process.execPath, BIN, "heartbeat", "watch", "--config", file] },
    ]);
    const ready = 180_000;
    await until(
      "ANVIL to serve /primary",
      async () => (await httpStatus(`http://127.0.0.1:${ports.anvil}/primary`)) === 200,
      ready,
    );
    step("ANVIL is the primary: /primary 200 (lease, Litestream up)");
    // A standby that is not ready is a finding, not the end of the drill: the failure comes all the same.
    const standbyUrl = `http://127.0.0.1:${ports.forge}/standby?lag=60s`;
    const standbyReady = await until(
      "FORGE to follow",
      async () => (await httpStatus(standbyUrl)) === 200,
      o.fast ? 30_000 : ready,
    )
      .then(() => true)
      .catch(() => false);
    if (standbyReady) step(`FORGE follows ${followed.length} databases: /standby?lag=60s 200`);
    else {
      const why = await fetch(standbyUrl)
        .then((r) => r.json() as Promise<{ reason?: string }>)
        .then((b) => b.reason ?? "")
        .catch((e: Error) => e.message);
      m.findings.push(`FORGE was not a ready standby before the failure: ${why}`);
      step(`FORGE is NOT a ready standby: ${why}`);
    }
    await until(
      "the inference proxy",
      async () => (await httpStatus(`http://127.0.0.1:${ports.proxy}/api/tags`)) === 200,
      ready,
    );
    if (o.break === "replication") {
      // Litestream on ANVIL stops uploading (stopped, not killed: it neither exits nor uploads), long enough to
      // exceed the RPO before the failure.
      const ls = JSON.parse(readFileSync(join(anvil.stateDir, "replicate-state.json"), "utf8")).litestream
        .pid as number;
      process.kill(ls, "SIGSTOP");
      step(`broken on purpose: ANVIL's Litestream (pid ${ls}) stopped uploading; waiting 75s before the failure`);
      await sleep(75_000);
    } else await sleep(o.fast ? 3000 : 20_000);

    // The watcher must have seen ANVIL up before the failure, or a failed check from before it was up would count
    // toward the alert and make it look faster than it is.
    const hbUrl = cfg.heartbeat.targets[0];
    const seenUp = await until(
      "the heartbeat watcher to see ANVIL up",
      () => {
        try {
          const st = JSON.parse(readFileSync(join(dir, "heartbeat-state.json"), "utf8")) as {
            targets: Record<string, { status: string; consecutiveFailures: number }>;
          };
          return st.targets[hbUrl]?.status === "up" && st.targets[hbUrl].consecutiveFailures === 0;
        } catch {
          return false;
        }
      },
      cfg.heartbeat.interval * 2 + 15_000,
    ).catch(() => false);
    if (seenUp) step("the heartbeat watcher sees ANVIL up");
    else
      m.findings.push(
        "the heartbeat watcher never saw ANVIL up before the failure: its alert latency is not comparable",
      );
    // Baseline (§8.2 step 1), then power loss (step 2).
    const mc = join(anvil.dataDir, "mission-control.db");
    m.baselineOpenTasks = contents(mc).openTasks;
    step(`baseline: ${m.baselineOpenTasks} open tasks in mission-control.db`);
    const killedAt = Date.now();
    process.kill(-(anvilG.pid as number), "SIGKILL");
    step(
      "POWER LOSS: ANVIL's whole process group killed (understudy run, Litestream, health, Ollama, the applications)",
    );

    // Alert, failover.
    const alert = until(
      "the Slack alert",
      () => slack.messages.find((x) => x.at >= killedAt),
      cfg.heartbeat.slackWebhook ? (o.fast ? 60_000 : 300_000) : 0,
    )
      .then((a) => {
        m.alertMs = a.at - killedAt;
        step(`Slack accepted the alert after ${(m.alertMs / 1000).toFixed(1)}s: "${a.text.split("\n")[0]}"`);
      })
      .catch(() => {
        // Without a webhook nothing can arrive: said at once rather than after the alert window.
        const why = cfg.heartbeat.slackWebhook
          ? "the heartbeat watcher did not post within the alert window"
          : "the heartbeat watcher has no Slack webhook (heartbeat.slack-webhook): its alerts are only logged";
        m.findings.push(`no Slack alert arrived: ${why}`);
        step(`NO Slack alert: ${why}`);
      });
    if (o.manual) {
      await alert;
      step("the operator runs understudy promote on FORGE");
      for (;;) {
        const r = await cli(["promote", "--config", file, "--node", forge.name, "--json"], env);
        if (r.code === 0) break;
        if (r.code !== 2) throw new Error(`promote failed: ${r.stderr.trim().split("\n").pop()}`);
        await sleep(1000);
      }
      // What launchd's KeepAlive does once promote has stopped the run daemon: start it again; the lease makes it the primary.
      startGroup("forge-run-again", [{ log: "forge-run-2", argv: node(forge, ["run", "--metrics-listen", ""]) }]);
    }
    await until(
      "FORGE to be the primary",
      () => readNodeState(forge.stateDir)?.role === "primary" || undefined,
      600_000,
    );
    m.promotedMs = Date.now() - killedAt;
    step(`FORGE holds the lease and replicates as the new epoch (${(m.promotedMs / 1000).toFixed(1)}s after the kill)`);

    // RPO: what ANVIL committed against what FORGE has, before anyone writes on FORGE.
    m.databases = [];
    let rpo = 0;
    for (const n of followed) {
      const theirs = contents(join(anvil.dataDir, n));
      const mine = existsSync(join(forge.dataDir, n)) ? contents(join(forge.dataDir, n)) : undefined;
      // A copy holds a prefix of what the primary committed; anything else (missing, someone's stray file) is no
      // copy at all — the P0 check's business and a finding, not a lag.
      const copy = !!mine?.ids.length && mine.ids.every((id, i) => theirs.ids[i] === id);
      if (!copy && theirs.ids.length) {
        m.findings.push(
          `FORGE had no copy of ${n} when it took over (${mine ? "a file that is not ANVIL's database" : "missing"})`,
        );
        continue;
      }
      const have = new Set(mine?.ids ?? []);
      const missing = theirs.ids.filter((id) => !have.has(id));
      const windowMs = missing.length ? killedAt - Date.parse(theirs.created.get(missing[0]) as string) : 0;
      rpo = Math.max(rpo, windowMs);
      m.databases.push({
        name: n,
        committed: theirs.ids.length,
        onSurvivor: mine?.ids.length ?? 0,
        lostWindowMs: windowMs,
      });
      if (n === "mission-control.db") m.survivorOpenTasks = mine?.openTasks;
    }
    m.rpoMs = rpo;
    const store = await openStore(cfg.store);
    const before = await readManifest(store, cfg.store.prefix);
    const oldEpoch = before?.epochs?.find((e) => e.node === anvil.name);
    step(
      `RPO: the oldest row FORGE lacks was committed ${(rpo / 1000).toFixed(1)}s before the kill; ${m.databases.reduce((a, d) => a + d.committed - d.onSurvivor, 0)} rows; open tasks ${m.survivorOpenTasks} vs ${m.baselineOpenTasks} at the baseline`,
    );

    // P0 on the survivor: present, intact, equal to ANVIL's last upload.
    m.p0 = [];
    const scratch = join(dir, "p0-check");
    mkdirSync(scratch, { recursive: true });
    for (const n of p0) {
      const path = join(forge.dataDir, n);
      const db = cfg.databases.find((d) => d.name === n);
      const gen = db && oldEpoch?.generations[db.replicaPath]?.slice(-1)[0];
      let detail = "";
      let ok = false;
      try {
        if (!existsSync(path)) detail = "missing";
        else {
          const got = digestDatabase(path);
          const want = join(scratch, n);
          await buildFromReplica(store, replicaPrefix(cfg.store, db?.replicaPath ?? n), want, { generation: gen });
          const exp = digestDatabase(want);
          ok = got.integrity === "ok" && got.hash === exp.hash;
          detail =
            got.integrity !== "ok"
              ? `integrity: ${got.integrity}`
              : ok
                ? `${got.rows} rows`
                : `differs from ANVIL's last upload (${got.rows} vs ${exp.rows} rows)`;
        }
      } catch (e) {
        detail = (e as Error).message;
      }
      m.p0.push({ name: n, ok, detail });
    }
    rmSync(scratch, { recursive: true, force: true });
    step(
      `P0 on FORGE: ${m.p0.filter((x) => x.ok).length}/${p0.length} present, integrity ok and equal to ANVIL's last upload`,
    );

    // FORGE serves: the applications start there (what the promote hook does), their writes reach the store.
    startGroup("forge-apps", [apps(forge)]);
    const firstWriteAt = Date.now();
    await until(
      "a write on FORGE uploaded as the new epoch",
      async () => {
        const x = await readManifest(store, cfg.store.prefix).catch(() => undefined);
        const e =
          x?.node === forge.name
            ? x.databases[cfg.databases.find((d) => d.name === "mission-control.db")?.replicaPath ?? ""]
            : undefined;
        return e && Date.parse(e.uploadedAt) >= firstWriteAt ? e : undefined;
      },
      120_000,
    );
    m.rtoMs = Date.now() - killedAt;
    step(
      `FORGE serves writes: a write there is in the store as epoch ${readNodeState(forge.stateDir)?.epoch} (RTO ${(m.rtoMs / 1000).toFixed(1)}s)`,
    );

    // Inference through the proxy, ANVIL's Ollama being gone.
    const prompt = await until(
      "the test prompt to be answered",
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.proxy}/api/generate`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-understudy-tier": "1" },
          body: JSON.stringify({ model: "llama3.1:8b", prompt: "DR drill: are you there?", stream: false }),
          signal: AbortSignal.timeout(30_000),
        }).catch(() => undefined);
        if (res?.status !== 200) return undefined;
        const body = (await res.json()) as { response?: string };
        return body.response
          ? { target: res.headers.get("x-understudy-target") ?? "", text: body.response }
          : undefined;
      },
      o.fast ? 60_000 : 180_000,
    );
    m.inference = { ok: prompt.target.startsWith("forge"), target: prompt.target };
    step(`inference: the tier-1 test prompt was answered by ${prompt.target} through the proxy`);
    await alert;

    // ANVIL comes back (power on), is told it was superseded, rejoins, and the pair fails back.
    anvilG = anvilGroup(false);
    await until(
      "ANVIL to see it was superseded",
      () => readNodeState(anvil.stateDir)?.role === "superseded" || undefined,
      120_000,
    );
    step("ANVIL is back: superseded, uploads nothing, waits for rejoin");
    const rj0 = Date.now();
    const rj = await cli(["rejoin", "--config", file, "--node", anvil.name, "--json"], env);
    if (rj.code !== 0) throw new Error(`rejoin failed: ${rj.stderr.trim().split("\n").pop()}`);
    const rep = JSON.parse(rj.stdout) as {
      setAside: string;
      databases: { name: string; unreplicated: Record<string, number> }[];
    };
    m.keptAside = {
      dir: rep.setAside,
      rows: rep.databases.reduce((a, d) => a + Object.values(d.unreplicated).reduce((x, y) => x + y, 0), 0),
      databases: rep.databases.filter((d) => Object.keys(d.unreplicated).length).map((d) => d.name),
    };
    step(
      `rejoin: ANVIL's databases set aside in ${rep.setAside}, ${m.keptAside.rows} rows it wrote after its last upload kept there`,
    );
    await until(
      "ANVIL to follow FORGE within the RPO",
      async () => (await httpStatus(`http://127.0.0.1:${ports.anvil}/standby?lag=60s`)) === 200,
      300_000,
    );
    m.rejoinMs = Date.now() - rj0;
    step(`ANVIL follows FORGE (${(m.rejoinMs / 1000).toFixed(1)}s after rejoin began)`);
    const sw = await cli(["switchover", "--config", file, "--to", anvil.name, "--json"], env);
    if (sw.code !== 0) throw new Error(`failback switchover failed: ${sw.stderr.trim().split("\n").pop()}`);
    m.failbackMs = (JSON.parse(sw.stdout) as { ms: number }).ms;
    step(`failback: switchover to ANVIL in ${(m.failbackMs / 1000).toFixed(1)}s`);
    await until(
      "FORGE to follow ANVIL again",
      () => readNodeState(forge.stateDir)?.role === "standby" || undefined,
      120_000,
    );
    const aside = readdirSync(dir)
      .filter((d) => d.startsWith("forge.set-aside-"))
      .sort()
      .pop() as string;
    m.failback = followed.map((n) => {
      const was = digestDatabase(join(dir, aside, n));
      const now = existsSync(join(anvil.dataDir, n)) ? digestDatabase(join(anvil.dataDir, n)) : undefined;
      return {
        name: n,
        rows: now?.rows ?? 0,
        expected: was.rows,
        equal: !!now && now.hash === was.hash && now.integrity === "ok",
      };
    });
    // The tiers that do not follow come back from the store on each promotion: they must be on both nodes now.
    const notFollowed = names.filter((n) => !followed.includes(n));
    const missing = notFollowed.filter((n) => !existsSync(join(anvil.dataDir, n)));
    if (missing.length)
      m.findings.push(
        `${missing.length} databases whose tier does not follow are not in ANVIL's data dir after the failback (${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""}): restore them with understudy restore`,
      );
    else if (notFollowed.length)
      step(
        `the ${notFollowed.length} databases whose tier does not follow were restored from the store by each promotion`,
      );
    step(
      `after failback ANVIL's ${m.failback.filter((x) => x.equal).length}/${followed.length} followed databases equal FORGE's at the handover, row for row`,
    );
    const lease = JSON.parse((await store.get(leaseKey(cfg.store.prefix))).toString()) as LeaseRecord;
    m.finalLease = { holder: lease.holder, epoch: lease.epoch };
    const after = (await readManifest(store, cfg.store.prefix)) as PositionsManifest;
    m.epochs = (after.epochs ?? []).map((e) => ({ epoch: e.epoch, node: e.node }));
  } catch (e) {
    m.error = (e as Error).message;
    step(`DRILL STOPPED: ${m.error}`);
  } finally {
    for (const g of groups)
      try {
        process.kill(-(g.child.pid as number), "SIGTERM");
      } catch {
        // already gone
      }
    await sleep(3000);
    for (const g of groups)
      try {
        process.kill(-(g.child.pid as number), "SIGKILL");
      } catch {
        // already gone
      }
    process.removeListener("SIGINT", interrupted);
    process.removeListener("SIGTERM", interrupted);
    await slack.close();
    m.slackMessages = slack.messages.map((x) => x.text.split("\n")[0]);
    if (!o.keep && !m.error) rmSync(dir, { recursive: true, force: true });
  }
  return { m, dir };
}
