// TaylorSeer (Liu et al., ICCV'25, arXiv 2503.06923; Shenyi-Z/TaylorSeer): full steps every `interval` steps after
// `warmupSteps`, the steps between forecast each module's output by a Taylor expansion of divided differences
// between full steps. The executor's Forecast extrapolates the stored residual to first order from the last two full
// steps, dividing by their actual gap (errata 6); per-block first-order forecasts sum to the first-order forecast of
// the whole stack's residual, so one span per sample is the same prediction. Orders above 1 are refused (the engine
// keeps two history points); order 0 is FORA-style reuse. Defaults: the DiT recommendation interval 4, with the
// FLUX script's 3 warm-up steps and order 1.
import type { PolicySpec } from "../policySpec.js";
import { intervalComputes } from "./fora.js";
import { intParam } from "./params.js";
import { spanPlans, type CacheContext, type CacheRun } from "./run.js";

export function taylorSeerParams(p: PolicySpec): PolicySpec {
  return {
    kind: "taylorSeer",
    order: intParam(p, "order", 1, 0, 1),
    interval: intParam(p, "interval", 4, 1),
    warmupSteps: intParam(p, "warmupSteps", 3, 0),
  };
}

export function startTaylorSeer(p: PolicySpec, ctx: CacheContext): CacheRun {
  const interval = p.interval as number, warmup = p.warmupSteps as number;
  const kind = p.order === 0 ? "reuse" : "forecast";
  return {
    plan(step) {
      const compute = intervalComputes(step.index, interval, warmup);
      return { actions: spanPlans(ctx.depth, new Array<boolean>(ctx.batch).fill(compute), kind) };
    },
    observe() {},
  };
}
