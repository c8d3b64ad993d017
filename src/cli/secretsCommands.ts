import { selectNode } from "../config/load";
import { checkSecrets } from "../preflight/secretsNeeded";
import { SessionKeeper } from "../secrets/keepSession";
import { UserError } from "../util/errors";
import { renderTable } from "../util/table";
import { COMMON, config, daemonLog, parse, printJson, untilSignal } from "./args";
import { durationArg } from "./opsArgs";

export async function secretsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "check") {
    const { values } = parse(rest, COMMON, "secrets check");
    const cfg = config(values);
    const rows = await checkSecrets(cfg);
    if (values.json) printJson(rows);
    else
      console.log(
        renderTable([
          ["FIELD", "REFERENCE", "ANSWERED BY", "NOTES"],
          ...rows.map((r) => [
            r.field,
            r.reference,
            r.answeredBy ?? "NOTHING",
            r.error ?? (r.tried.length ? `before it: ${r.tried.join("; ")}` : ""),
          ]),
        ]),
      );
    return rows.some((r) => r.error) ? 1 : 0;
  }
  if (sub === "keep-session") {
    const { values } = parse(
      rest,
      { ...COMMON, interval: { type: "string" }, once: { type: "boolean" } },
      "secrets keep-session",
    );
    const cfg = config(values);
    const node = selectNode(cfg, { name: values.node });
    const keeper = new SessionKeeper(cfg.secrets, node.stateDir, daemonLog({ role: "secrets", node: node.name }));
    if (values.once) {
      const s = await keeper.once();
      if (values.json) printJson(s);
      else
        console.log(
          s.error
            ? `Bitwarden: ${s.status}: ${s.error}`
            : `Bitwarden: ${s.status}${s.lastUnlockAt ? " (unlocked now)" : ""}`,
        );
      return s.status === "unlocked" ? 0 : 1;
    }
    const stop = new AbortController();
    void untilSignal().then(() => stop.abort());
    await keeper.run(stop.signal, durationArg(values.interval, "interval", true) ?? 5 * 60_000);
    return 0;
  }
  throw new UserError(`expected check or keep-session${sub ? `, not "${sub}"` : ""}. See understudy secrets --help`);
}
