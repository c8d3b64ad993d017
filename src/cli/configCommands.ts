import { existsSync, readFileSync } from "node:fs";
import { renderPrometheusRules } from "../alerts/prometheusRules";
import { UserError } from "../config/errors";
import { parseConfig, selectNode } from "../config/load";
import { STARTER_CONFIG } from "../config/starter";
import type { UnderstudyConfig } from "../config/types";
import { findLitestream, type LitestreamFamily } from "../litestream/binary";
import { importLitestreamConfig } from "../litestream/import";
import { renderLitestreamConfig } from "../litestream/render";
import { validateConfig } from "../preflight/validate";
import { renderTable } from "../util/table";
import { COMMON, config, firstPositional, parse, printJson, writeOutput } from "./args";
import { renderService, renderWorkflow, SERVICE_OPTIONS, WORKFLOW_OPTIONS } from "./renderServices";

export async function initCommand(argv: string[]): Promise<number> {
  const { values } = parse(
    argv,
    { ...COMMON, output: { type: "string", short: "o" }, force: { type: "boolean" } },
    "init",
  );
  const out = values.output ?? "understudy.yml";
  if (existsSync(out) && !values.force) throw new UserError(`${out} already exists; pass --force to overwrite it`);
  writeOutput(out, STARTER_CONFIG, "-o");
  console.log(`wrote ${out}; edit nodes, store and databases, then run: understudy validate --config ${out}`);
  return 0;
}

export async function validateCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...COMMON, online: { type: "boolean", default: false } }, "validate");
  const cfg = config(values);
  const results = await validateConfig(cfg, { online: !!values.online, node: values.node });
  const failed = results.some((r) => r.status === "fail");
  if (values.json) printJson({ ok: !failed, checks: results });
  else {
    console.log(renderTable(results.map((r) => [r.status.toUpperCase(), r.check, r.detail])));
    console.log(failed ? "\nvalidate: FAILED" : "\nvalidate: ok");
  }
  return failed ? 1 : 0;
}

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...COMMON, output: { type: "string", short: "o" }, force: { type: "boolean" } },
    "import",
  );
  const file = positionals[0];
  if (!file) throw new UserError("name the Litestream config to import (understudy import FILE -o OUT.yml)");
  if (!existsSync(file)) throw new UserError(`${file}: no such file`);
  const r = importLitestreamConfig(readFileSync(file, "utf8"), file, values.node ?? "primary");
  // The result must load as a config; anything else is a bug here, not the user's problem.
  parseConfig(r.yaml, values.output ?? "(imported)");
  if (values.output) {
    if (existsSync(values.output) && !values.force)
      throw new UserError(`${values.output} already exists; pass --force to overwrite it`);
    writeOutput(values.output, r.yaml, "-o");
  }
  if (values.json) {
    printJson({
      output: values.output,
      databases: r.databases,
      guessed: r.guessed.map((g) => ({ name: g.name, tier: g.tier, why: g.guess })),
      warnings: r.warnings,
    });
    return 0;
  }
  if (!values.output) process.stdout.write(r.yaml);
  const log = values.output ? console.log : console.error;
  log(`imported ${r.databases.length} databases${values.output ? ` into ${values.output}` : ""}`);
  for (const w of r.warnings) log(`warning: ${w}`);
  if (r.guessed.length) {
    log(`tier guessed for ${r.guessed.length}:`);
    for (const g of r.guessed) log(`  ${g.name} -> ${g.tier}: ${g.guess}`);
  } else log("every tier matched exactly by retention");
  return 0;
}

const LITESTREAM_RENDER_OPTIONS = {
  ...COMMON,
  role: { type: "string" },
  output: { type: "string", short: "o" },
  litestream: { type: "string" },
} as const;

/**
 * Which Litestream line a rendered config is for: --litestream, else litestream.format, else the line of the
 * binary this machine would run, else 0.3.
 */
async function renderFamily(cfg: UnderstudyConfig, flag: string | undefined): Promise<LitestreamFamily> {
  if (flag !== undefined) {
    if (flag !== "0.3" && flag !== "0.5") throw new UserError(`--litestream is 0.3 or 0.5, not "${flag}"`);
    return flag;
  }
  if (cfg.litestream.format !== "auto") return cfg.litestream.format;
  return (await findLitestream(cfg.litestream).catch(() => undefined))?.family ?? "0.3";
}

export async function renderCommand(argv: string[]): Promise<number> {
  // The target decides which options are valid, so it is found before parsing.
  const target = firstPositional(argv, LITESTREAM_RENDER_OPTIONS, SERVICE_OPTIONS, WORKFLOW_OPTIONS);
  if (target === "launchd" || target === "systemd") return renderService(target, argv);
  if (target === "github-workflow") return renderWorkflow(argv);
  const { values, positionals } = parse(argv, LITESTREAM_RENDER_OPTIONS, "render");
  if (positionals[0] === "prometheus-rules") {
    const text = renderPrometheusRules(config(values));
    if (values.output) {
      writeOutput(values.output, text, "-o");
      console.error(`wrote ${values.output}; check it with: promtool check rules ${values.output}`);
    } else process.stdout.write(text);
    return 0;
  }
  if (positionals[0] !== "litestream")
    throw new UserError(
      `unknown target "${positionals[0] ?? ""}"; one of litestream, launchd ROLE, systemd ROLE, github-workflow, prometheus-rules`,
    );
  const role = values.role ?? "primary";
  if (role !== "primary" && role !== "standby") throw new UserError(`--role must be primary or standby, not "${role}"`);
  const cfg = config(values);
  const node = values.node ? selectNode(cfg, { name: values.node }) : selectNode(cfg, { role });
  const family = await renderFamily(cfg, values.litestream);
  const text = renderLitestreamConfig(cfg, { ...node, role }, family);
  if (values.output) {
    writeOutput(values.output, text, "-o");
    console.error(
      `wrote ${values.output} for Litestream ${family} (${cfg.databases.length} databases configured; no secrets in it)`,
    );
  } else process.stdout.write(text);
  return 0;
}
