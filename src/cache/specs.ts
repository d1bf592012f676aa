// The block-cache policies a `--cache SPEC` may name, with their parameters (names and parameters follow
// shared/research/caching.md: CachePolicy.firstBlock({ threshold, warmupSteps }), …; `profile` names a calibration
// file written by `ditto calibrate`; number lists are joined by '+'). Each policy's rule lives in its own file
// (src/cache/<name>.ts) and src/cache/policy.ts builds them.
import { parseSpec, type PolicySpec, type SpecTable } from "../policySpec.js";

export const CACHE_SPECS: SpecTable = Object.freeze({
  none: { params: {} },
  firstBlock: { params: { threshold: "number", warmupSteps: "integer", maxCachedSteps: "integer" } },
  dbCache: { params: { threshold: "number", frontBlocks: "integer", backBlocks: "integer", warmupSteps: "integer", maxCachedSteps: "integer" } },
  teaCache: { params: { threshold: "number", coefficients: "numbers", profile: "string", warmupSteps: "integer" } },
  magCache: { params: { threshold: "number", maxSkipSteps: "integer", retainRatio: "number", ratios: "numbers", profile: "string" } },
  fora: { params: { interval: "integer", warmupSteps: "integer" } },
  deltaDit: { params: { interval: "integer", blocks: "integers", warmupSteps: "integer" } },
  taylorSeer: { params: { order: "integer", interval: "integer", warmupSteps: "integer" } },
  easyCache: { params: { threshold: "number", warmupSteps: "integer" } },
  auto: { params: { tolerance: "number", warmupSteps: "integer", maxGap: "integer" } },
});

/** `name[:key=value,…]` → a plain cache policy object, checked against CACHE_SPECS. */
export function parseCacheSpec(spec: string): PolicySpec {
  return parseSpec(spec, "cache", CACHE_SPECS);
}
