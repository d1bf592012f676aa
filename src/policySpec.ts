// The SPEC string form shared by cache and guidance policies (`--cache SPEC`, `--guidance SPEC`):
// `name[:key=value[,key=value…]]`, e.g. `firstBlock:threshold=0.08,warmupSteps=4` or `skipLayers:layers=4+5,scale=1.8`.
// Lists use '+'. The tables of known names and parameters live with their policies (src/cache/specs.ts,
// src/guidance/specs.ts); this file only parses, checks against a table and formats. An unknown name or parameter
// is a clear error listing what is known; plain objects ({ kind, …params }) are checked against the same table.

import { typeError } from "./errors.js";

export type ParamKind = "number" | "integer" | "integers" | "numbers" | "string";

export interface SpecKind {
  params: Record<string, ParamKind>;
}

/** A table of policy names → their parameters. */
export type SpecTable = Readonly<Record<string, SpecKind>>;

/** Which kind of policy a SPEC names ("cache" or "guidance"): used in error messages. */
export type PolicyWhat = "cache" | "guidance";

export interface PolicySpec {
  kind: string;
  [param: string]: string | number | number[];
}

function parseValue(kind: ParamKind, raw: string, where: string): number | number[] | string {
  if (kind === "string") {
    if (raw.trim() === "") throw new RangeError(`Expected a non-empty value for ${where} but received ""`);
    return raw.trim();
  }
  if (kind === "numbers") {
    // '+' joins list items, so a list value has no '+' exponents: write 1e5, not 1e+5
    const parts = raw.split("+").map((p) => p.trim());
    const values = parts.map(Number);
    if (parts.some((p, i) => p === "" || !Number.isFinite(values[i]))) throw new RangeError(`Expected numbers joined by '+' for ${where} but received "${raw}"`);
    return values;
  }
  if (kind === "integers") {
    const parts = raw.split("+").map((p) => p.trim());
    if (parts.some((p) => !/^\d+$/.test(p))) throw new RangeError(`Expected non-negative integers joined by '+' for ${where} but received "${raw}"`);
    return parts.map(Number);
  }
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new RangeError(`Expected a number for ${where} but received "${raw}"`);
  if (kind === "integer" && !Number.isInteger(n)) throw new RangeError(`Expected an integer for ${where} but received "${raw}"`);
  return n;
}

/** Parses `name[:key=value,…]` against `table` into a plain policy object. */
export function parseSpec(spec: string, what: PolicyWhat, table: SpecTable): PolicySpec {
  if (typeof spec !== "string" || spec.trim() === "") throw new RangeError(`Expected a ${what} SPEC like name:key=value but received "${spec}"`);
  const colon = spec.indexOf(":");
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const kind = specKind(name, what, table);
  const policy: PolicySpec = { kind: name };
  const rest = colon < 0 ? "" : spec.slice(colon + 1).trim();
  if (rest === "") return policy;
  for (const pair of rest.split(",")) {
    const eq = pair.indexOf("=");
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const paramKind = paramKindOf(kind, key, what, name);
    if (eq < 0) throw new RangeError(`Expected key=value for ${what} policy ${name} but received "${pair.trim()}"`);
    if (key in policy) throw new RangeError(`Parameter "${key}" given twice for ${what} policy ${name}`);
    policy[key] = parseValue(paramKind, pair.slice(eq + 1).trim(), `${what} policy ${name}.${key}`);
  }
  return policy;
}

function specKind(name: string, what: PolicyWhat, table: SpecTable): SpecKind {
  const kind = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!kind) throw new RangeError(`Unknown ${what} policy "${name}": expected one of ${Object.keys(table).join(", ")}`);
  return kind;
}

function paramKindOf(kind: SpecKind, key: string, what: PolicyWhat, name: string): ParamKind {
  const paramKind = Object.hasOwn(kind.params, key) ? kind.params[key] : undefined;
  if (!paramKind) {
    const known = Object.keys(kind.params);
    throw new RangeError(`Unknown parameter "${key}" for ${what} policy ${name}: expected ${known.length ? `one of ${known.join(", ")}` : "no parameters"}`);
  }
  return paramKind;
}

/**
 * Checks a plain policy object ({ kind, …params }, e.g. a toJSON() result or JSON.parse of one) against `table`
 * with the same rules as parseSpec, and returns a frozen copy with its parameters in the table's order.
 */
export function checkSpecObject(value: unknown, what: PolicyWhat, table: SpecTable): PolicySpec {
  if (value === null || typeof value !== "object" || Array.isArray(value) || typeof (value as { kind?: unknown }).kind !== "string") {
    throw typeError(`a ${what} policy object { kind, …params }`, what, value);
  }
  const { kind: name, ...params } = value as Record<string, unknown>;
  const kind = specKind(name as string, what, table);
  for (const key of Object.keys(params)) paramKindOf(kind, key, what, name as string);
  const out: PolicySpec = { kind: name as string };
  for (const [key, paramKind] of Object.entries(kind.params)) {
    const v = params[key];
    if (v === undefined) continue;
    const where = `${what} policy ${name as string}.${key}`;
    if (paramKind === "string") {
      if (typeof v !== "string" || v === "") throw new RangeError(`Expected a non-empty string for ${where} but received ${JSON.stringify(v)}`);
      out[key] = v;
    } else if (paramKind === "numbers") {
      if (!Array.isArray(v) || v.length === 0 || !v.every((n) => typeof n === "number" && Number.isFinite(n))) {
        throw new RangeError(`Expected a non-empty array of finite numbers for ${where} but received ${JSON.stringify(v)}`);
      }
      out[key] = Object.freeze([...(v as number[])]) as number[];
    } else if (paramKind === "integers") {
      if (!Array.isArray(v) || v.length === 0 || !v.every((n) => Number.isSafeInteger(n) && n >= 0)) {
        throw new RangeError(`Expected a non-empty array of non-negative integers for ${where} but received ${JSON.stringify(v)}`);
      }
      out[key] = Object.freeze([...(v as number[])]) as number[];
    } else {
      if (typeof v !== "number" || !Number.isFinite(v)) throw new RangeError(`Expected a number for ${where} but received ${JSON.stringify(v)}`);
      if (paramKind === "integer" && !Number.isInteger(v)) throw new RangeError(`Expected an integer for ${where} but received ${v}`);
      out[key] = v;
    }
  }
  return Object.freeze(out);
}

/** The canonical SPEC string of a policy (round-trips through the parsers). */
export function formatSpec(policy: PolicySpec): string {
  const params = Object.entries(policy).filter(([k]) => k !== "kind")
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`);
  return params.length ? `${policy.kind}:${params.join(",")}` : policy.kind;
}
