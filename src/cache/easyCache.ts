// EasyCache (Zhou et al., arXiv 2507.02860; H-EmbodVis/EasyCache): runtime-adaptive, no calibration. From the last
// two computed steps a and b, the transformation rate k = |v_b − v_a| / |x_b − x_a|; per step
// acc += k·|x_t − x_{t−1}| / |v_b|; while acc < threshold the step reuses the transformation (v_t = x_t + (v_b − x_b)),
// otherwise it computes and acc = 0. The first `warmupSteps` steps (default 10) and the last step compute, and the
// first step after warm-up computes (k is undefined until two computed steps, errata 5).
// In Ditto the transformation reused is the residual of the block stack (the head runs at the current t), x is block
// 0's input and the changes are relative L1s the executor computes: d_t = rel-L1 input change (its input probe,
// updated every step as the official code does), e = |R_b − R_a| / |R_b| (the order-0 forecast error of the stored
// stack residual), so k·|Δx_t|/|v_b| becomes k̂·d_t with k̂ = e / Σ_{a<j≤b} d_j (|x| about constant between steps).
// The rule runs natively per branch and sample: hit when acc + k̂·d < threshold.
import type { PolicySpec } from "../policySpec.js";
import { intParam, numberParam } from "./params.js";
import type { CacheContext, CacheRun } from "./run.js";

export function easyCacheParams(p: PolicySpec): PolicySpec {
  return { kind: "easyCache", threshold: numberParam(p, "threshold", 0.05, 0), warmupSteps: intParam(p, "warmupSteps", 10, 0) };
}

export function startEasyCache(p: PolicySpec, ctx: CacheContext): CacheRun {
  const threshold = p.threshold as number, warmup = p.warmupSteps as number;
  const { branches, batch, depth } = ctx;
  const grid = () => Array.from({ length: branches }, () => new Array<number>(batch).fill(0));
  const acc = grid(), sinceComputed = grid(), rate = grid(), computedAfterWarmup = grid();
  return {
    plan(step, branch) {
      const accumulated = acc[branch]!.map((a, s) =>
        step.index < warmup || step.index === step.total - 1 || computedAfterWarmup[branch]![s]! < 2 ? Infinity : a);
      return {
        signals: [{ block: 0, kind: "forecastError", end: depth, order: 0 }],
        firstBlockCache: { threshold, probe: "input", probeEnd: 0, accumulated, scale: rate[branch]!.slice() },
      };
    },
    observe(step, signals, hits) {
      hits.forEach((h, b) => h.forEach((hit, s) => {
        const d = signals[b]![batch + s]!; // request 0 is the forecast error, then the rule's distance
        if (Number.isFinite(d)) sinceComputed[b]![s]! += d;
        if (hit) {
          acc[b]![s]! += rate[b]![s]! * d;
          return;
        }
        const e = signals[b]![s]!;
        if (Number.isFinite(e) && sinceComputed[b]![s]! > 0) rate[b]![s] = e / sinceComputed[b]![s]!;
        if (step.index >= warmup) computedAfterWarmup[b]![s]!++;
        acc[b]![s] = 0;
        sinceComputed[b]![s] = 0;
      }));
    },
  };
}
