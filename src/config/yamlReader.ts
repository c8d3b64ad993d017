import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLMap, type YAMLSeq } from "yaml";
import { parseDuration } from "../util/duration";
import { parseSize } from "../util/size";
import { closest } from "../util/suggest";
import type { ConfigProblem } from "./errors";

/** Collects problems while walking a parsed YAML file, each located by line and dotted field path. */
export class YamlContext {
  readonly problems: ConfigProblem[] = [];
  private readonly lines = new LineCounter();
  readonly root: Node | null;

  constructor(
    readonly file: string,
    text: string,
  ) {
    const doc = parseDocument(text, { lineCounter: this.lines, uniqueKeys: true, prettyErrors: true });
    // The first syntax error is the one to fix; the rest are usually its echoes.
    for (const e of doc.errors.slice(0, 1)) {
      const pos = e.linePos?.[0];
      this.problems.push({
        file,
        line: pos?.line,
        column: pos?.col,
        field: "",
        message: `not valid YAML: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")}`,
      });
    }
    this.root = doc.errors.length ? null : (doc.contents as Node | null);
  }

  report(node: Node | null | undefined, field: string, message: string): void {
    const offset = node?.range?.[0];
    const pos = offset === undefined ? undefined : this.lines.linePos(offset);
    this.problems.push({ file: this.file, line: pos?.line, column: pos?.col, field, message });
  }
}

function describe(node: Node | null | undefined): string {
  if (node == null) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return node.value === null ? "nothing" : `${typeof node.value} ${JSON.stringify(node.value)}`;
  return "something else";
}

const MAX_SIZE = 2 ** 50;
const MAX_DURATION_DAYS = 3650;
const MAX_DURATION_MS = MAX_DURATION_DAYS * 86_400_000;

export class MapReader {
  private readonly seen = new Set<string>();
  /** Problems for required keys that are absent: a misspelt key found later replaces them. */
  private readonly absent = new Map<string, ConfigProblem>();

  constructor(
    readonly ctx: YamlContext,
    readonly node: YAMLMap,
    readonly path: string,
  ) {}

  static of(ctx: YamlContext, node: Node | null | undefined, path: string): MapReader | undefined {
    if (node && isMap(node)) return new MapReader(ctx, node, path);
    ctx.report(node, path, `expected a mapping (key: value lines), found ${describe(node)}`);
    return undefined;
  }

  field(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  keys(): string[] {
    return this.node.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key));
  }

  has(key: string): boolean {
    return this.keys().includes(key);
  }

  raw(key: string): Node | undefined {
    this.seen.add(key);
    const pair = this.node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    return (pair?.value as Node | undefined) ?? undefined;
  }

  keyNode(key: string): Node | undefined {
    const pair = this.node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    return pair?.key as Node | undefined;
  }

  private scalar(key: string, required: boolean): { node: Node; value: unknown } | undefined {
    const node = this.raw(key);
    if (node === undefined || (isScalar(node) && node.value === null)) {
      if (required && node === undefined) this.required(key);
      else if (required) this.ctx.report(node, this.field(key), "must have a value");
      return undefined;
    }
    if (!isScalar(node)) {
      this.ctx.report(node, this.field(key), `expected a single value, found ${describe(node)}`);
      return undefined;
    }
    return { node, value: node.value };
  }

  str(key: string, required = false): string | undefined {
    const s = this.scalar(key, required);
    if (!s) return undefined;
    if (typeof s.value === "object") {
      this.ctx.report(s.node, this.field(key), `expected text, found ${describe(s.node)}`);
      return undefined;
    }
    return String(s.value);
  }

  oneOf<T extends string>(key: string, values: readonly T[], required = false): T | undefined {
    const v = this.str(key, required);
    if (v === undefined) return undefined;
    if ((values as readonly string[]).includes(v)) return v as T;
    const guess = closest(v, values);
    this.ctx.report(
      this.raw(key),
      this.field(key),
      `"${v}" is not one of ${values.join(", ")}${guess ? `; did you mean "${guess}"?` : ""}`,
    );
    return undefined;
  }

  /**
   * A duration in ms. Zero is refused (a zero interval is a busy loop, a zero timeout fails everything) unless
   * `zero` says what it means for this key, e.g. "disables it".
   */
  duration(key: string, required = false, zero?: string): number | undefined {
    const s = this.scalar(key, required);
    if (!s) return undefined;
    const ms = typeof s.value === "number" && s.value === 0 ? 0 : parseDuration(String(s.value));
    if (ms === undefined) {
      this.ctx.report(
        s.node,
        this.field(key),
        `"${String(s.value)}" is not a duration; write it like 500ms, 1s, 30s, 5m, 72h or 7d`,
      );
    } else if (ms === 0 && !zero) {
      this.ctx.report(s.node, this.field(key), "must be longer than 0");
      return undefined;
    } else if (ms > MAX_DURATION_MS) {
      this.ctx.report(s.node, this.field(key), `"${String(s.value)}" is longer than ${MAX_DURATION_DAYS} days`);
      return undefined;
    }
    return ms;
  }

  size(key: string): number | undefined {
    const s = this.scalar(key, false);
    if (!s) return undefined;
    const n = parseSize(typeof s.value === "number" ? s.value : String(s.value));
    if (n === undefined)
      this.ctx.report(s.node, this.field(key), `"${String(s.value)}" is not a size; write it like 26 MB or 4 KB`);
    else if (n > MAX_SIZE) {
      this.ctx.report(s.node, this.field(key), `"${String(s.value)}" is larger than 1 PB; is the unit right?`);
      return undefined;
    }
    return n;
  }

  /** HOST:PORT for a server to listen on (port 0-65535), or "" where `empty` says what that means. */
  listen(key: string, empty?: string): string | undefined {
    const v = this.str(key);
    if (v === undefined) return undefined;
    if (v === "" && empty) return v;
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(v);
    if (!m || Number(m[3]) > 65535) {
      this.ctx.report(
        this.raw(key) as Node,
        this.field(key),
        `"${v}" is not HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:9810${empty ? `; "" ${empty}` : ""})`,
      );
      return undefined;
    }
    return v;
  }

  num(key: string, opts: { min?: number; integer?: boolean } = {}): number | undefined {
    const s = this.scalar(key, false);
    if (!s) return undefined;
    const n = typeof s.value === "number" ? s.value : Number(s.value);
    const bad =
      !Number.isFinite(n) || (opts.min !== undefined && n < opts.min) || (opts.integer && !Number.isInteger(n));
    if (bad) {
      const want = `${opts.integer ? "a whole number" : "a number"}${opts.min !== undefined ? ` of at least ${opts.min}` : ""}`;
      this.ctx.report(s.node, this.field(key), `expected ${want}, found ${describe(s.node)}`);
      return undefined;
    }
    return n;
  }

  bool(key: string): boolean | undefined {
    const s = this.scalar(key, false);
    if (!s) return undefined;
    if (typeof s.value !== "boolean") {
      this.ctx.report(s.node, this.field(key), `expected true or false, found ${describe(s.node)}`);
      return undefined;
    }
    return s.value;
  }

  map(key: string, required = false): MapReader | undefined {
    const node = this.raw(key);
    if (node === undefined || (isScalar(node) && node.value === null)) {
      if (required) this.required(key);
      return undefined;
    }
    return MapReader.of(this.ctx, node, this.field(key));
  }

  seq(key: string): { items: Node[]; node: YAMLSeq } | undefined {
    const node = this.raw(key);
    if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
    if (!isSeq(node)) {
      this.ctx.report(node, this.field(key), `expected a list (lines starting with "- "), found ${describe(node)}`);
      return undefined;
    }
    return { items: node.items as Node[], node };
  }

  strList(key: string): string[] | undefined {
    const s = this.seq(key);
    if (!s) return undefined;
    const out: string[] = [];
    s.items.forEach((item, i) => {
      if (isScalar(item) && item.value !== null && typeof item.value !== "object") out.push(String(item.value));
      else this.ctx.report(item, `${this.field(key)}[${i}]`, `expected text, found ${describe(item)}`);
    });
    return out;
  }

  private required(key: string): void {
    this.ctx.report(this.node, this.field(key), "is required");
    this.absent.set(key, this.ctx.problems[this.ctx.problems.length - 1]);
  }

  /** Reports every key nobody asked for, with the known key it most likely meant. */
  finish(extraKnown: readonly string[] = []): void {
    const known = [...new Set([...this.seen, ...extraKnown])];
    for (const pair of this.node.items) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key);
      if (known.includes(key)) continue;
      const guess = closest(key, known);
      const replaced = guess ? this.absent.get(guess) : undefined;
      if (replaced) this.ctx.problems.splice(this.ctx.problems.indexOf(replaced), 1);
      this.ctx.report(
        pair.key as Node,
        this.field(key),
        `unknown field${guess ? `; did you mean "${guess}"?` : ` (known here: ${known.join(", ")})`}`,
      );
    }
  }
}
