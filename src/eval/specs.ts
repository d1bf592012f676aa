// Parsing of `--cache SPEC` and `--guidance SPEC` strings into plain policy objects: `name[:key=value[,key=value…]]`,
// e.g. `firstBlock:threshold=0.08,warmupSteps=4` or `skipLayers:layers=4+5,scale=1.8`. Lists use '+'. Names and
// parameters follow shared/research/{caching,guidance}.md and design.md §1 (CachePolicy.firstBlock(…),
// Autoguidance.skipLayers(…)). An unknown name or parameter is a clear error listing what is known; the harness then
// refuses policies the engine does not implement yet rather than report numbers for something that did not run.

type ParamKind = "number" | "integer" | "integers";

interface SpecKind {
  params: Record<string, ParamKind>;
}

export const CACHE_SPECS: Record<string, SpecKind> = {
  none: { params: {} },
  firstBlock: { params: { threshold: "number", warmupSteps: "integer", maxCachedSteps: "integer" } },
  dbCache: { params: { threshold: "number", frontBlocks: "integer", backBlocks: "integer", warmupSteps: "integer", maxCachedSteps: "integer" } },
  teaCache: { params: { threshold: "number", warmupSteps: "integer" } },
  magCache: { params: { threshold: "number", maxSkipSteps: "integer", retainRatio: "number" } },
  fora: { params: { interval: "integer", warmupSteps: "integer" } },
  deltaDit: { params: { interval: "integer", blocks: "integers" } },
  taylorSeer: { params: { interval: "integer", order: "integer", warmupSteps: "integer" } },
  easyCache: { params: { threshold: "number", warmupSteps: "integer" } },
};

export const GUIDANCE_SPECS: Record<string, SpecKind> = {
  cfg: { params: { scale: "number" } },
  skipLayers: { params: { layers: "integers", scale: "number", cfgScale: "number", start: "number", stop: "number" } },
  slg: { params: { layers: "integers", scale: "number", start: "number", stop: "number" } },
  pag: { params: { layers: "integers", scale: "number" } },
  stg: { params: { layers: "integers", scale: "number" } },
  apg: { params: { eta: "number", normThreshold: "number", momentum: "number" } },
  cfgZeroStar: { params: { zeroInitSteps: "integer" } },
  interval: { params: { start: "number", stop: "number" } },
};

export interface PolicySpec {
  kind: string;
  [param: string]: string | number | number[];
}

function parseValue(kind: ParamKind, raw: string, where: string): number | number[] {
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

function parseSpec(spec: string, what: "cache" | "guidance", table: Record<string, SpecKind>): PolicySpec {
  if (typeof spec !== "string" || spec.trim() === "") throw new RangeError(`Expected a ${what} SPEC like name:key=value but received "${spec}"`);
  const colon = spec.indexOf(":");
  const name = (colon < 0 ? spec : spec.slice(0, colon)).trim();
  const kind = table[name];
  if (!kind) {
    throw new RangeError(`Unknown ${what} policy "${name}": expected one of ${Object.keys(table).join(", ")}`);
  }
  const policy: PolicySpec = { kind: name };
  const rest = colon < 0 ? "" : spec.slice(colon + 1).trim();
  if (rest === "") return policy;
  for (const pair of rest.split(",")) {
    const eq = pair.indexOf("=");
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const paramKind = kind.params[key];
    if (!paramKind) {
      const known = Object.keys(kind.params);
      throw new RangeError(`Unknown parameter "${key}" for ${what} policy ${name}: expected ${known.length ? `one of ${known.join(", ")}` : "no parameters"}`);
    }
    if (eq < 0) throw new RangeError(`Expected key=value for ${what} policy ${name} but received "${pair.trim()}"`);
    if (key in policy) throw new RangeError(`Parameter "${key}" given twice for ${what} policy ${name}`);
    policy[key] = parseValue(paramKind, pair.slice(eq + 1).trim(), `${what} policy ${name}.${key}`);
  }
  return policy;
}

export function parseCacheSpec(spec: string): PolicySpec {
  return parseSpec(spec, "cache", CACHE_SPECS);
}

export function parseGuidanceSpec(spec: string): PolicySpec {
  return parseSpec(spec, "guidance", GUIDANCE_SPECS);
}

/** The canonical SPEC string of a policy (round-trips through the parsers). */
export function formatSpec(policy: PolicySpec): string {
  const params = Object.entries(policy).filter(([k]) => k !== "kind")
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`);
  return params.length ? `${policy.kind}:${params.join(",")}` : policy.kind;
}
