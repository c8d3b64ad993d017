import { UserError } from "../config/errors";
import { selectNode } from "../config/load";
import { HealthServer } from "../health/server";
import { COMMON, config, daemonLog, listenAddress, parse, untilSignal } from "./args";

export async function healthCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "serve")
    throw new UserError(`expected serve${sub ? `, not "${sub}"` : ""}. See understudy health --help`);
  const { values: v } = parse(rest, { ...COMMON, listen: { type: "string" } }, "health serve");
  const cfg = config(v);
  const node = selectNode(cfg, { name: v.node });
  const listen = v.listen ?? cfg.health.listen;
  const hp = listenAddress(listen, "--listen");
  const log = daemonLog({ role: "health", node: node.name });
  const server = new HealthServer({ node, readyLagMs: cfg.health.readyLag });
  const addr = await server.listen(hp.host, hp.port).catch((e: Error) => {
    throw new UserError(`--listen ${listen}: ${e.message}`);
  });
  log.info({ listen: `${addr.address}:${addr.port}`, nodeRole: node.role }, "health endpoint listening");
  await untilSignal();
  await server.close();
  return 0;
}
