// Δ-DiT (Chen et al., arXiv 2406.01125): caches the deviation (residual) of a range of blocks instead of the whole
// stack — the rear blocks early in sampling, when the outline forms and the front blocks matter, and the front
// blocks late, when details do (Δ-Cache with a stage boundary). Every `interval` steps all blocks compute and store
// the range; between them the range adds its stored residual and the other blocks compute. `blocks` = [begin, end)
// fixes the range for the whole run; by default the range switches from the rear half to the front half at the
// middle of the schedule (the paper's boundary is a hyper-parameter; the middle needs no per-model number).
import { rangeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { intervalComputes } from "./fora.js";
import { intParam } from "./params.js";
import { spanPlans, type CacheContext, type CacheRun } from "./run.js";

export function deltaDitParams(p: PolicySpec): PolicySpec {
  const out: PolicySpec = { kind: "deltaDit", interval: intParam(p, "interval", 2, 1), warmupSteps: intParam(p, "warmupSteps", 0, 0) };
  if (p.blocks !== undefined) {
    const b = p.blocks;
    if (!Array.isArray(b) || b.length !== 2 || !(b[0]! < b[1]!)) throw rangeError("[begin, end] with begin < end", "cache.blocks", b);
    out.blocks = [...b];
  }
  return out;
}

export function startDeltaDit(p: PolicySpec, ctx: CacheContext): CacheRun {
  const interval = p.interval as number, warmup = p.warmupSteps as number, depth = ctx.depth;
  const fixed = p.blocks as number[] | undefined;
  if (fixed && fixed[1]! > depth) throw rangeError(`a block range within [0, ${depth}]`, "cache.blocks", fixed);
  const half = Math.ceil(depth / 2);
  const range = (index: number): [number, number] => (fixed ? [fixed[0]!, fixed[1]!] : index < ctx.total / 2 ? [half, depth] : [0, half]);
  let stored: string | undefined; // the range stored at the last full step
  let decided = -1, compute = true;
  return {
    plan(step) {
      const [begin, end] = range(step.index);
      if (decided !== step.index) {
        // a new range needs a full step that stores it first
        decided = step.index;
        compute = intervalComputes(step.index, interval, warmup) || stored !== `${begin},${end}`;
        if (compute) stored = `${begin},${end}`;
      }
      return { actions: spanPlans(depth, new Array<boolean>(ctx.batch).fill(compute), "reuse", begin, end) };
    },
    observe() {},
  };
}
