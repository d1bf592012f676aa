// First-Block Cache (chengzeyi/ParaAttention FBCache; diffusers FirstBlockCacheConfig): after block 0,
// d = rel-L1(its residual, the one of the last computed step); d < threshold reuses the residual of every other
// block. It is DBCache with one front block and no back blocks (src/cache/dbCache.ts, run natively). Defaults:
// diffusers' threshold 0.05, ParaAttention's warmup_steps 0, no cap on cached steps.
import type { PolicySpec } from "../policySpec.js";
import { startProbeRule } from "./dbCache.js";
import { intParam, numberParam } from "./params.js";
import type { CacheContext, CacheRun } from "./run.js";

export function firstBlockParams(p: PolicySpec): PolicySpec {
  return {
    kind: "firstBlock",
    threshold: numberParam(p, "threshold", 0.05, 0),
    warmupSteps: intParam(p, "warmupSteps", 0, 0),
    maxCachedSteps: intParam(p, "maxCachedSteps", 0, 0),
  };
}

export function startFirstBlock(p: PolicySpec, ctx: CacheContext): CacheRun {
  return startProbeRule({
    threshold: p.threshold as number, frontBlocks: 1, backBlocks: 0,
    warmupSteps: p.warmupSteps as number, maxCachedSteps: p.maxCachedSteps as number,
  }, ctx);
}
