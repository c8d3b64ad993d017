import type { MapReader } from "./yamlReader";

/**
 * How `understudy drill run` acts on the real pair. Each command runs with `sh -c` on the node running the drill
 * (the standby), so it usually reaches the primary over ssh. Without one, the drill says what to do and waits
 * for the operator to do it, measuring from what it sees.
 */
export interface DrillConfig {
  /** Takes the primary down (`ssh anvil sudo shutdown -h now`); unset: the operator pulls the plug. */
  trigger?: string;
  /** Brings the old primary back (power, `launchctl kickstart`); unset: the operator does. */
  recover?: string;
  /** Runs `understudy rejoin` on the returned old primary; unset: the operator does. */
  rejoin?: string;
  /** The heartbeat watcher's record: its --state file, or the /state URL of its --metrics-listen server. */
  heartbeatRecord?: string;
  /** The longest the drill waits for any one step (the operator included) before it reports the step failed. */
  stepTimeout: number;
}

export const DEFAULT_DRILL: DrillConfig = { stepTimeout: 30 * 60_000 };

export function readDrill(r: MapReader | undefined, abs: (p: string) => string): DrillConfig {
  const record = r?.str("heartbeat-record");
  const out: DrillConfig = {
    trigger: r?.str("trigger"),
    recover: r?.str("recover"),
    rejoin: r?.str("rejoin"),
    heartbeatRecord: record && !/^https?:\/\//.test(record) ? abs(record) : record,
    stepTimeout: r?.duration("step-timeout") ?? DEFAULT_DRILL.stepTimeout,
  };
  r?.finish();
  return out;
}
