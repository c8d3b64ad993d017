import { existsSync } from "node:fs";
import { UserError } from "../config/errors";
import { DEFAULT_CONFIG_FILE, loadConfig } from "../config/load";
import { parseSecretRef, type SecretRef } from "../config/secretRef";
import type { UnderstudyConfig } from "../config/types";
import { configureSecrets, resolveSecret } from "../secrets/resolve";
import { parseDuration } from "../util/duration";

/** The config when one is given or present; the ops commands also run on a third machine without one. */
export function optionalConfig(file: string | undefined): UnderstudyConfig | undefined {
  const cfg =
    file && file !== DEFAULT_CONFIG_FILE
      ? loadConfig(file)
      : existsSync(DEFAULT_CONFIG_FILE)
        ? loadConfig(DEFAULT_CONFIG_FILE)
        : undefined;
  if (cfg) configureSecrets(cfg.secrets);
  return cfg;
}

/** A duration flag; `positive` for the ones where 0 means nothing sensible (intervals, timeouts). */
export function durationArg(text: string | undefined, name: string, positive = false): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined || (positive && ms <= 0))
    throw new UserError(`--${name}: "${text}" is not a duration such as 60s, 5m or 500ms`);
  return ms;
}

/** A number flag within bounds (discover --depth, demo --scale): anything else is the user's input error. */
export function numberArg(
  text: string | undefined,
  name: string,
  o: { min: number; max: number; integer?: boolean },
): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < o.min || n > o.max || (o.integer && !Number.isInteger(n)))
    throw new UserError(
      `--${name}: expected ${o.integer ? "a whole number" : "a number"} from ${o.min} to ${o.max}, not "${text}"`,
    );
  return n;
}

export function countArg(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`--${name}: expected a whole number of at least 1, not "${text}"`);
  return n;
}

export function secretArg(text: string | undefined, name: string): SecretRef | undefined {
  if (text === undefined) return undefined;
  const ref = parseSecretRef(text);
  if (typeof ref === "string") throw new UserError(`--${name}: ${ref}`);
  return ref;
}

/** A webhook given as a URL (visible in the process list: fine for a test, not for production) or a reference. */
export async function webhookArg(
  text: string | undefined,
  fallback: SecretRef | undefined,
  field: string,
): Promise<string | undefined> {
  if (text !== undefined && /^https?:\/\//.test(text)) return text;
  const ref = text !== undefined ? parseSecretRef(text) : fallback;
  if (ref === undefined) return undefined;
  if (typeof ref === "string") throw new UserError(`--${field}: ${ref}, or a URL`);
  return resolveSecret(ref, field);
}
