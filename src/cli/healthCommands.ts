import pino from "pino";
import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { HealthServer } from "../health/server";
import { splitHostPort } from "../util/net";
import { COMMON, config, parse } from "./args";

export async function healthCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "serve")
    throw new UserError(
      `understudy health: expected serve${sub ? `, not "${sub}"` : ""}. See understudy health --help`,
    );
  const { values: v } = parse(rest, { ...COMMON, listen: { type: "string" } }, "health serve");
  const cfg = config(v);
  const node = selectNode(cfg, { name: v.node });
  const listen = v.listen ?? cfg.health.listen;
  let hp: { host: string; port: number };
  try {
    hp = splitHostPort(listen, "--listen");
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  const log = pino({ base: { role: "health", node: node.name } }, pino.destination({ dest: 2, sync: true }));
  const server = new HealthServer({ node, readyLagMs: cfg.health.readyLag });
  const addr = await server.listen(hp.host, hp.port).catch((e: Error) => {
    throw new UserError(`--listen ${listen}: ${e.message}`);
  });
  log.info({ listen: `${addr.address}:${addr.port}`, nodeRole: node.role }, "health endpoint listening");
  await new Promise<void>((r) => {
    process.once("SIGTERM", () => r());
    process.once("SIGINT", () => r());
  });
  await server.close();
  return 0;
}
