// DBCache (vipshop/cache-dit, cache_manager.py / pattern_base.py): the first `frontBlocks` blocks (Fn) always run;
// d = rel-L1 of their residual against the one of the last computed step; d < threshold (and the guards pass)
// adds the stored residual of the middle blocks and skips them, and the last `backBlocks` blocks (Bn) always run
// as the reference's "auto-scaler". The rule runs natively in the executor, per branch and per sample
// (FirstBlockCacheRule with restEnd = depth − Bn); the guards are kept here and passed as a per-sample accumulated
// value (+∞ forces a sample to compute): `warmupSteps` computed steps first, at most `maxCachedSteps` cached steps
// per sample and branch (0 = no cap; cache-dit's -1). cache-dit's defaults are F8B0, δ 0.08, 8 warm-up steps for
// FLUX's 57 blocks; F8 cannot fit a shallower model, so the default here is F1B1 (a probe block and one
// auto-scaler block), δ 0.08 and 8 warm-up steps. First-Block Cache is F1B0 (src/cache/firstBlock.ts).
import { rangeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { intParam, numberParam } from "./params.js";
import type { CacheContext, CacheRun } from "./run.js";

export function dbCacheParams(p: PolicySpec): PolicySpec {
  return {
    kind: "dbCache",
    threshold: numberParam(p, "threshold", 0.08, 0),
    frontBlocks: intParam(p, "frontBlocks", 1, 1),
    backBlocks: intParam(p, "backBlocks", 1, 0),
    warmupSteps: intParam(p, "warmupSteps", 8, 0),
    maxCachedSteps: intParam(p, "maxCachedSteps", 0, 0),
  };
}

/** The residual-probe rule shared by DBCache and First-Block Cache. */
export function startProbeRule(
  o: { threshold: number; frontBlocks: number; backBlocks: number; warmupSteps: number; maxCachedSteps: number },
  ctx: CacheContext,
): CacheRun {
  const restEnd = ctx.depth - o.backBlocks;
  if (o.frontBlocks >= restEnd) {
    throw rangeError(`frontBlocks + backBlocks below the model's ${ctx.depth} blocks`, "cache.frontBlocks", o.frontBlocks);
  }
  const cached = Array.from({ length: ctx.branches }, () => new Array<number>(ctx.batch).fill(0));
  return {
    plan(step, branch) {
      const accumulated = cached[branch]!.map((n) =>
        step.index < o.warmupSteps || (o.maxCachedSteps > 0 && n >= o.maxCachedSteps) ? Infinity : 0);
      return { firstBlockCache: { threshold: o.threshold, probeEnd: o.frontBlocks, restEnd, accumulated } };
    },
    observe(_step, _signals, hits) {
      hits.forEach((h, b) => h.forEach((hit, s) => { if (hit) cached[b]![s]!++; }));
    },
  };
}

export function startDbCache(p: PolicySpec, ctx: CacheContext): CacheRun {
  return startProbeRule({
    threshold: p.threshold as number, frontBlocks: p.frontBlocks as number, backBlocks: p.backBlocks as number,
    warmupSteps: p.warmupSteps as number, maxCachedSteps: p.maxCachedSteps as number,
  }, ctx);
}
