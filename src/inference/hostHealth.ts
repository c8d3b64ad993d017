/** What the monitor knows about one host right now. */
export interface HostHealth {
  healthy: boolean;
  /** Never checked yet: routing treats it as healthy so a fresh proxy does not refuse work. */
  unknown: boolean;
  lastCheck?: string;
  latencyMs?: number;
  /** Models the host listed at its last good check (kept while it is down, to know what it owned). */
  models: string[];
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastError?: string;
  /** When `healthy` last changed. */
  since?: string;
  /** Set when the operator's override file forces the state. */
  override: boolean;
}
