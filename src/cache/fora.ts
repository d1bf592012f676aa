// FORA (Selvaraju et al., arXiv 2407.01425; prathebaselva/FORA): a static schedule — every `interval` steps all
// blocks compute, the steps between reuse what they produced. FORA caches each layer's attention and MLP outputs;
// they are added to the residual stream, so reusing all of them is exactly reusing the residual of the whole block
// stack, which is what we store (one slot per sample and branch instead of 2·depth). The first `warmupSteps` steps
// always compute (our addition, default 0 = the reference).
import type { PolicySpec } from "../policySpec.js";
import { intParam } from "./params.js";
import { spanPlans, type CacheContext, type CacheRun } from "./run.js";

export function foraParams(p: PolicySpec): PolicySpec {
  return { kind: "fora", interval: intParam(p, "interval", 3, 1), warmupSteps: intParam(p, "warmupSteps", 0, 0) };
}

/** Whether step `index` computes under a fixed interval after `warmup` computed steps. */
export function intervalComputes(index: number, interval: number, warmup: number): boolean {
  return index < warmup || (index - warmup) % interval === 0;
}

export function startFora(p: PolicySpec, ctx: CacheContext): CacheRun {
  const interval = p.interval as number, warmup = p.warmupSteps as number;
  return {
    plan(step) {
      const compute = intervalComputes(step.index, interval, warmup);
      return { actions: spanPlans(ctx.depth, new Array<boolean>(ctx.batch).fill(compute), "reuse") };
    },
    observe() {},
  };
}
