/** A Prometheus label set in the text exposition format, values escaped: {db="a.db",tier="P1"}, or "" for none. */
export function promLabels(labels: Record<string, string>): string {
  const s = Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`)
    .join(",");
  return s ? `{${s}}` : "";
}
