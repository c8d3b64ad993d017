import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import Database from "better-sqlite3";
import { effective, loadConfig } from "../config/load";
import type { NodeConfig, UnderstudyConfig } from "../config/types";
import { createFleet } from "../demo/fleet";
import { fleetConfigYaml } from "../demo/fleetConfig";
import { INVENTORY_FILE } from "../demo/runDemo";
import { WRITER } from "../demo/writerProcess";
import { loadInventory } from "../fleet/inventory";
import { readHeartbeatState } from "../heartbeat/state";
import { readReplicateState } from "../replicate/state";
import { freePort, httpStatus } from "../util/net";
import type { DrillMeasurements } from "./criteria";
import { BIN, cli, sleep, until } from "./measure";
import { runPairDrill } from "./pair";
import { SlackStandin } from "./slackStandin";

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
  /** A Litestream binary other than the one found by default (0.3.x or 0.5.x). */
  litestream?: string;
  progress: (line: string) => void;
}

/**
 * The inference section for two Ollama stand-ins on loopback: the primary's host fails over to the standby's
 * (same model), the standby's to Claude; the monitor's files in `dir`, the proxy on `proxyPort`.
 */
export function standinInferenceYaml(o: {
  primary: { name: string; port: number; tiers: string[] };
  standby: { name: string; port: number; tiers: string[] };
  proxyPort: number;
  monitorInterval: string;
  dir: string;
  claudeKey: string;
}): string {
  const host = (h: { name: string; port: number; tiers: string[] }) =>
    `    ${h.name}: { url: "http://127.0.0.1:${h.port}", health-path: /api/tags, health-timeout: 1s, tiers: ${JSON.stringify(h.tiers)} }`;
  return `inference:
  hosts:
${host(o.primary)}
${host(o.standby)}
  failover:
    ${o.primary.name}-down: { to: ${o.standby.name}, models: { "llama3.1:8b": "llama3.1:8b" } }
    ${o.standby.name}-down: { to: claude }
  claude: { api-key: ${o.claudeKey} }
  monitor:
    interval: ${o.monitorInterval}
    fail-after: 2
    recover-after: 2
    health-file: ${JSON.stringify(join(o.dir, "ollama-health.json"))}
    override-file: ${JSON.stringify(join(o.dir, "ollama-override.json"))}
  proxy:
    listen: 127.0.0.1:${o.proxyPort}
`;
}

/** The plan's timings, and the same scaled down for CI (`--fast`), which the report says. */
function timings(fast: boolean) {
  return fast
    ? { heartbeat: "2s", hbTimeout: "1s", ttl: "3s", check: "500ms", monitor: "1s", writes: 10 }
    : { heartbeat: "60s", hbTimeout: "10s", ttl: "15s", check: "5s", monitor: "15s", writes: 5 };
}

function sh(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
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
    kind: "local",
    names: { primary: "anvil", standby: "forge" },
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
    // The applications start where the lease goes, as a real promote hook starts them (in the background, the hook
    // returns at once); the node's data dir is ${dir}/$UNDERSTUDY_NODE.
    const startApps = `nohup ${sh(process.execPath)} ${sh(WRITER)} ${sh(dir)}/$UNDERSTUDY_NODE ${pidFile} ${t.writes} ${inventory.map((d) => sh(d.name)).join(" ")} >>${sh(logs)}/$UNDERSTUDY_NODE-apps.log 2>&1 </dev/null &`;
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
      litestreamBinary: o.litestream,
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
  hooks: { demote: ${JSON.stringify(demote)}, promote: ${JSON.stringify(startApps)} }
health:
  ready-lag: 60s
heartbeat:
  targets: [http://127.0.0.1:${ports.anvil}/primary]
  interval: ${t.heartbeat}
  timeout: ${t.hbTimeout}
  alert-after: 2
  escalate-after: 5
  state-file: ${JSON.stringify(join(dir, "heartbeat-state.json"))}
${o.break === "heartbeat-webhook" ? "" : "  slack-webhook: env:UNDERSTUDY_DRILL_SLACK_WEBHOOK\n"}${standinInferenceYaml(
  {
    primary: { name: "anvil", port: ports.ollamaAnvil, tiers: ["1", "2"] },
    standby: { name: "forge", port: ports.ollamaForge, tiers: ["3"] },
    proxyPort: ports.proxy,
    monitorInterval: t.monitor,
    dir,
    claudeKey: "env:UNDERSTUDY_DRILL_CLAUDE_KEY",
  },
)}replicate:
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
    // `understudy run` restarts when it exits, as launchd's KeepAlive (or systemd's Restart=) does: `promote` stops it.
    const startGroup = (name: string, cmds: { log: string; argv: string[] }[]) => {
      const line = (c: { log: string; argv: string[] }) => {
        const cmd = `${c.argv.map(sh).join(" ")} >>${sh(join(logs, `${c.log}.log`))} 2>&1`;
        return c.log.endsWith("-run") ? `while :; do ${cmd}; sleep 1; done &` : `${cmd} &`;
      };
      const script = `${cmds.map(line).join("\n")}\nwait\n`;
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
    // A standby that is not ready is a finding (the pair drill's baseline says so), not the end of the drill.
    await until(
      "FORGE to follow",
      async () => (await httpStatus(`http://127.0.0.1:${ports.forge}/standby?lag=60s`)) === 200,
      o.fast ? 30_000 : ready,
    ).catch(() => undefined);
    await until(
      "the inference proxy",
      async () => (await httpStatus(`http://127.0.0.1:${ports.proxy}/api/tags`)) === 200,
      ready,
    );
    if (o.break === "replication") {
      // Litestream on ANVIL stops uploading (stopped, not killed: it neither exits nor uploads), long enough to
      // exceed the RPO before the failure.
      const ls = readReplicateState(anvil.stateDir)?.litestream.pid as number;
      process.kill(ls, "SIGSTOP");
      step(`broken on purpose: ANVIL's Litestream (pid ${ls}) stopped uploading; waiting 75s before the failure`);
      await sleep(75_000);
    } else await sleep(o.fast ? 3000 : 20_000);

    // The watcher must have seen ANVIL up before the failure, or a failed check from before it was up would count
    // toward the alert and make it look faster than it is.
    const hbUrl = cfg.heartbeat.targets[0];
    await until(
      "the heartbeat watcher to see ANVIL up",
      () => {
        const t = readHeartbeatState(cfg.heartbeat.stateFile).targets[hbUrl];
        return t?.status === "up" && t.consecutiveFailures === 0;
      },
      cfg.heartbeat.interval * 2 + 15_000,
    ).catch(() => undefined);
    // From here the drill is the real pair's (`drill run` on FORGE): its power loss is the kill of ANVIL's whole
    // group, ANVIL's return a new group, its rejoin the operator's command; what it measures is measured the same.
    await runPairDrill(cfg, forge, {
      trigger: {
        say: "POWER LOSS: ANVIL's whole process group killed (understudy run, Litestream, health, Ollama, the applications)",
        run: () => {
          process.kill(-(anvilG.pid as number), "SIGKILL");
        },
      },
      recover: {
        say: "ANVIL powers on: its group starts again (understudy run, health, Ollama)",
        run: () => {
          anvilG = anvilGroup(false);
        },
      },
      rejoin: {
        say: "the operator runs understudy rejoin on ANVIL",
        run: async () => {
          const rj = await cli(["rejoin", "--config", file, "--node", anvil.name, "--json"], env);
          if (rj.code !== 0) throw new Error(`rejoin failed: ${rj.stderr.trim().split("\n").pop()}`);
        },
      },
      heartbeatRecord: cfg.heartbeat.stateFile,
      stepTimeoutMs: o.fast ? 120_000 : 600_000,
      promote: o.manual,
      progress: say,
      env,
      measurements: m,
      t0,
    });
    if (m.error) return { m, dir };
    // What only this machine can see: ANVIL's data dir after the failback holds the tiers that do not follow too.
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
