import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { renderGithubWorkflow } from "../heartbeat/githubWorkflow";
import { resolveSecret } from "../secrets/resolve";
import { renderLaunchd } from "../service/launchd";
import { ROLES, type ServiceRole, serviceSpec } from "../service/roles";
import { renderSystemd } from "../service/systemd";
import { writeFileAtomic } from "../util/atomic";
import { COMMON, checkOutputPath, config, parse, writeOutput } from "./args";
import { countArg, durationArg, optionalConfig } from "./opsArgs";

export const SERVICE_OPTIONS = {
  ...COMMON,
  output: { type: "string", short: "o" },
  "inline-secrets": { type: "boolean", default: false },
  "environment-file": { type: "string" },
  "write-environment-file": { type: "boolean", default: false },
} as const;

function roleArg(text: string | undefined): ServiceRole {
  if (text && (ROLES as readonly string[]).includes(text)) return text as ServiceRole;
  throw new UserError(`ROLE is one of ${ROLES.join(", ")}${text ? `, not "${text}"` : ""}`);
}

/** The env: references a role reads, a chain's env: layers included (the break-glass one, usually). */
function envSecrets(spec: ReturnType<typeof serviceSpec>): ReturnType<typeof serviceSpec>["secrets"] {
  return spec.secrets.flatMap((s) =>
    (s.ref.chain ?? [s.ref]).filter((r) => r.scheme === "env").map((ref) => ({ field: s.field, ref })),
  );
}

/** Resolves the role's env: secrets to values, only when the operator asked for a file that holds them. */
async function envValues(spec: ReturnType<typeof serviceSpec>): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const s of envSecrets(spec)) env[s.ref.target] = await resolveSecret(s.ref, s.field);
  return env;
}

export async function renderService(kind: "launchd" | "systemd", argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, SERVICE_OPTIONS, `render ${kind}`);
  const role = roleArg(positionals[1]);
  const cfg = config(v);
  const node = selectNode(cfg, {
    name: v.node,
    role: role === "run" || role === "secrets" ? undefined : role === "follow" ? "standby" : "primary",
    runs: role === "follow" || role === "replicate" ? `understudy ${role}` : undefined,
  });
  const spec = serviceSpec(cfg, node, role);
  const envRefs = envSecrets(spec);
  if (kind === "systemd" && v["inline-secrets"])
    throw new UserError(
      "--inline-secrets is for launchd, which has no environment file; a systemd unit reads its secrets from an EnvironmentFile: use --write-environment-file (written 0600)",
    );
  const notes: string[] = [];
  let text: string;
  let secretInFile = false;
  if (kind === "launchd") {
    if (v["inline-secrets"] && envRefs.length) {
      if (!v.output)
        throw new UserError(
          "--inline-secrets puts secret values in the plist: it needs -o FILE (written 0600), never stdout",
        );
      text = renderLaunchd(spec, await envValues(spec));
      secretInFile = true;
    } else {
      text = renderLaunchd(spec, {});
      if (envRefs.length)
        notes.push(
          `${role} reads ${envRefs.map((s) => `${s.ref.text} (${s.field})`).join(", ")}; launchd has no environment file, so either switch those to file: references (recommended) or re-run with --inline-secrets -o FILE`,
        );
    }
  } else {
    const envFile = v["environment-file"] ?? (envRefs.length ? `/etc/understudy/${role}.env` : undefined);
    text = renderSystemd(spec, envFile);
    if (envFile && envRefs.length) {
      if (v["write-environment-file"]) {
        checkOutputPath(envFile, "--environment-file");
        const values = await envValues(spec);
        writeFileAtomic(
          envFile,
          `${Object.entries(values)
            .map(([k, x]) => `${k}=${x}`)
            .join("\n")}\n`,
          0o600,
        );
        notes.push(`wrote ${envFile} (mode 0600: it holds ${Object.keys(values).join(", ")})`);
      } else
        notes.push(
          `${role} reads ${envRefs.map((s) => s.ref.text).join(", ")}: put NAME=value lines in ${envFile} (mode 0600), or pass --write-environment-file to write it from this shell's environment`,
        );
    }
  }
  if (v.output) {
    writeOutput(v.output, text, "-o", secretInFile ? 0o600 : 0o644);
    console.error(`wrote ${v.output}${secretInFile ? " (mode 0600: it holds secret values)" : " (no secrets in it)"}`);
  } else process.stdout.write(text);
  for (const n of notes) console.error(`note: ${n}`);
  const load =
    kind === "launchd"
      ? `load it with: launchctl bootstrap gui/$(id -u) ${v.output ?? `~/Library/LaunchAgents/${spec.label}.plist`}`
      : `install it with: sudo cp ${v.output ?? `understudy-${role}.service`} /etc/systemd/system/ && sudo systemctl enable --now understudy-${role}`;
  console.error(load);
  return 0;
}

export const WORKFLOW_OPTIONS = {
  ...COMMON,
  output: { type: "string", short: "o" },
  every: { type: "string", default: "5" },
  interval: { type: "string" },
  install: { type: "string" },
  tailscale: { type: "boolean", default: false },
} as const;

export async function renderWorkflow(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, WORKFLOW_OPTIONS, "render github-workflow");
  const hb = optionalConfig(v.config)?.heartbeat;
  const every = countArg(v.every, "every") ?? 5;
  if (every < 5) throw new UserError("--every: GitHub runs scheduled workflows at most every 5 minutes");
  const pkg = require("../../../package.json") as { name: string; version: string };
  const intervalMs = durationArg(v.interval, "interval", true) ?? hb?.interval ?? 60_000;
  if (intervalMs < 1000 || intervalMs % 1000 !== 0)
    throw new UserError(`--interval: "${v.interval}" must be a whole number of seconds, at least 1s`);
  // The command becomes one YAML `run:` line: a newline or a YAML-significant start would add steps or keys.
  if (
    v.install !== undefined &&
    (/[\r\n]/.test(v.install) || /^[\s|>&*!%@`#'"{[-]/.test(v.install) || !v.install.trim())
  )
    throw new UserError(
      "--install: one shell command on one line, not starting with a YAML indicator (| > & * ! % @ ` # ' \" { [ -)",
    );
  const text = renderGithubWorkflow({
    everyMinutes: every,
    interval: `${intervalMs / 1000}s`,
    install: v.install ?? `npm install --global ${pkg.name}@${pkg.version}`,
    tailscale: v.tailscale,
    alertAfter: hb?.alertAfter ?? 2,
    escalateAfter: hb?.escalateAfter ?? 5,
  });
  if (v.output) {
    writeOutput(v.output, text, "-o");
    console.error(
      `wrote ${v.output}; add the repository secrets ANVIL_HEALTH_URL and FORGE_HEALTH_URL (base URLs, e.g. http://100.103.49.98:8099), SLACK_OPS_WEBHOOK, SLACK_ESCALATION_WEBHOOK${v.tailscale ? ", TS_OAUTH_CLIENT_ID, TS_OAUTH_SECRET" : ""}`,
    );
  } else process.stdout.write(text);
  return 0;
}
