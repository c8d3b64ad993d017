import { readFileSync } from "node:fs";
import { UserError } from "../config/errors";
import type { WriteFrequency } from "../config/types";
import { parseSize } from "../util/size";

/** One row of the plan's fleet inventory (name, size, write frequency, tier, purpose). */
export interface InventoryEntry {
  name: string;
  /** Bytes; 0 for the plan's "0 B (active)" and a small guess for "active WAL" (size unknown, file in WAL mode). */
  size: number;
  sizeText: string;
  writeFrequency: WriteFrequency;
  tier: string;
  purpose: string;
}

/** The plan lists some databases only as "active WAL"; they are in use but their size was not recorded. */
export const UNKNOWN_ACTIVE_SIZE = 64 * 1024;

export function parseInventory(text: string, file: string): InventoryEntry[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines.shift()?.split("\t") ?? [];
  const col = (n: string) => {
    const i = header.indexOf(n);
    if (i < 0) throw new UserError(`${file}:1: the header has no "${n}" column (found: ${header.join(", ")})`);
    return i;
  };
  const [iName, iSize, iFreq, iTier, iPurpose] = ["name", "size", "write_freq", "tier", "purpose"].map(col);
  return lines.map((line, n) => {
    const f = line.split("\t");
    const sizeText = f[iSize] ?? "";
    const parsed = parseSize(sizeText.replace(/\(.*\)/, "").trim());
    const size = parsed ?? (/active/i.test(sizeText) ? UNKNOWN_ACTIVE_SIZE : Number.NaN);
    if (!Number.isFinite(size)) throw new UserError(`${file}:${n + 2}: size "${sizeText}" is not a size`);
    const freq = (f[iFreq] ?? "").trim().toLowerCase().replace(/\s+/g, "-");
    if (!["very-high", "high", "medium", "low"].includes(freq))
      throw new UserError(`${file}:${n + 2}: write_freq "${f[iFreq]}" is not Very high, High, Medium or Low`);
    return {
      name: f[iName].trim(),
      size,
      sizeText,
      writeFrequency: freq as WriteFrequency,
      tier: f[iTier].trim(),
      purpose: (f[iPurpose] ?? "").trim(),
    };
  });
}

export function loadInventory(file: string): InventoryEntry[] {
  return parseInventory(readFileSync(file, "utf8"), file);
}
