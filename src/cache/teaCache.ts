// TeaCache (Liu et al., CVPR'25, arXiv 2411.19108; ali-vilab/TeaCache): d_t = rel-L1 change of block 0's input
// against the previous step's (the reference updated at every step, also when cached); acc += poly(d_t); while
// acc < threshold the step reuses the residual of the whole block stack, otherwise it computes and acc = 0. The
// first `warmupSteps` steps (default 1) and the last step always compute (the FLUX script). Run natively per branch
// and sample (FirstBlockCacheRule with an input probe: hit when acc + poly(d) < threshold); acc lives here.
// Where we differ: the reference probes block 0's timestep-*modulated* input; our kernels expose the block input,
// so d is its change (the timestep's effect enters through the fitted polynomial). The polynomial comes from
// `coefficients` or a calibration profile (`ditto calibrate`: least squares of the residual change on d, degree 4,
// the maintainers' recipe); without one it is the identity — no per-model numbers are shipped.
import { rangeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { intParam, numberParam, numbersParam } from "./params.js";
import { readCacheProfile } from "./profile.js";
import type { CacheContext, CacheRun } from "./run.js";

export function teaCacheParams(p: PolicySpec): PolicySpec {
  const out: PolicySpec = { kind: "teaCache", threshold: numberParam(p, "threshold", 0.1, 0), warmupSteps: intParam(p, "warmupSteps", 1, 0) };
  const coefficients = numbersParam(p, "coefficients");
  if (coefficients && p.profile !== undefined) throw rangeError("coefficients or a profile, not both", "cache.profile", p.profile);
  if (coefficients) out.coefficients = coefficients;
  if (p.profile !== undefined) {
    if (typeof p.profile !== "string") throw rangeError("profile file path", "cache.profile", p.profile);
    readCacheProfile(p.profile); // fails now, not at the first step
    out.profile = p.profile;
  }
  return out;
}

/** poly(d) with coefficients highest power first (as the executor evaluates it). */
export function polynomial(coefficients: readonly number[], d: number): number {
  let v = 0;
  for (const c of coefficients) v = v * d + c;
  return v;
}

export function startTeaCache(p: PolicySpec, ctx: CacheContext): CacheRun {
  const coefficients = (p.coefficients as number[] | undefined)
    ?? (typeof p.profile === "string" ? readCacheProfile(p.profile).teaCache.coefficients : [1, 0]);
  const threshold = p.threshold as number, warmup = p.warmupSteps as number;
  const acc = Array.from({ length: ctx.branches }, () => new Array<number>(ctx.batch).fill(0));
  return {
    plan(step, branch) {
      const forced = step.index < warmup || step.index === step.total - 1;
      return {
        firstBlockCache: {
          threshold, probe: "input", probeEnd: 0, coefficients,
          accumulated: acc[branch]!.map((a) => (forced ? Infinity : a)),
        },
      };
    },
    observe(_step, signals, hits) {
      hits.forEach((h, b) => h.forEach((hit, s) => {
        const d = signals[b]![s]!; // the rule's distance is the branch's only signal
        acc[b]![s] = hit ? acc[b]![s]! + polynomial(coefficients, d) : 0;
      }));
    },
  };
}
