// The block-cache policies a `--cache SPEC` may name, with their parameters (names and parameters follow
// shared/research/caching.md and the user-facing sketch of the product: CachePolicy.firstBlock({ threshold, warmupSteps }), …). Knowing a
// name here does not mean the engine runs it: src/cache/policy.ts says which ones it implements and refuses the
// others loudly rather than report numbers for something that did not run.
import { parseSpec, type PolicySpec, type SpecTable } from "../policySpec.js";

export const CACHE_SPECS: SpecTable = Object.freeze({
  none: { params: {} },
  firstBlock: { params: { threshold: "number", warmupSteps: "integer", maxCachedSteps: "integer" } },
  dbCache: { params: { threshold: "number", frontBlocks: "integer", backBlocks: "integer", warmupSteps: "integer", maxCachedSteps: "integer" } },
  teaCache: { params: { threshold: "number", warmupSteps: "integer" } },
  magCache: { params: { threshold: "number", maxSkipSteps: "integer", retainRatio: "number" } },
  fora: { params: { interval: "integer", warmupSteps: "integer" } },
  deltaDit: { params: { interval: "integer", blocks: "integers" } },
  taylorSeer: { params: { interval: "integer", order: "integer", warmupSteps: "integer" } },
  easyCache: { params: { threshold: "number", warmupSteps: "integer" } },
});

/** `name[:key=value,…]` → a plain cache policy object, checked against CACHE_SPECS. */
export function parseCacheSpec(spec: string): PolicySpec {
  return parseSpec(spec, "cache", CACHE_SPECS);
}
