// MagCache (Ma et al., NeurIPS'25, arXiv 2506.09045; Zehong-Ma/MagCache): an offline curve γ_i (the ratio of the
// stack residual's magnitude at step i to step i−1, from calibration) drives a fixed schedule: after the first
// round(retainRatio·T) steps, per step ratio *= γ_i, n += 1, err += |1 − ratio|; the step reuses the stored residual
// while err ≤ threshold and n ≤ maxSkipSteps (FLUX's rule, errata 7), otherwise it computes and ratio, n, err reset.
// The curve is resampled to the run's step count by nearest index. Where we differ: γ is the ratio of whole-sample L2
// norms averaged over samples and both CFG branches (the reference averages per-token norms, one prompt); one curve
// serves both branches. The curve comes from `ratios` or a calibration profile; there is no built-in curve.
import { rangeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { intParam, numberParam, numbersParam } from "./params.js";
import { readCacheProfile } from "./profile.js";
import { resampleNearest, spanPlans, type CacheContext, type CacheRun } from "./run.js";

export function magCacheParams(p: PolicySpec): PolicySpec {
  const out: PolicySpec = {
    kind: "magCache",
    threshold: numberParam(p, "threshold", 0.12, 0),
    maxSkipSteps: intParam(p, "maxSkipSteps", 2, 0),
    retainRatio: numberParam(p, "retainRatio", 0.2, 0, 1),
  };
  const ratios = numbersParam(p, "ratios");
  if (ratios && p.profile !== undefined) throw rangeError("ratios or a profile, not both", "cache.profile", p.profile);
  if (ratios) out.ratios = ratios;
  else if (typeof p.profile === "string") {
    readCacheProfile(p.profile);
    out.profile = p.profile;
  } else {
    throw rangeError("a ratio curve (ratios=… or profile=FILE from ditto calibrate)", "cache.profile", p.profile);
  }
  return out;
}

/** The compute (true) / reuse (false) schedule of MagCache's rule for `steps` steps. */
export function magCacheSchedule(ratios: readonly number[], steps: number, o: { threshold: number; maxSkipSteps: number; retainRatio: number }): boolean[] {
  const gamma = resampleNearest(ratios, steps);
  const retained = Math.round(o.retainRatio * steps);
  const out: boolean[] = [];
  let ratio = 1, n = 0, err = 0;
  for (let i = 0; i < steps; i++) {
    if (i >= retained && i > 0) {
      ratio *= gamma[i]!;
      n += 1;
      err += Math.abs(1 - ratio);
      if (err <= o.threshold && n <= o.maxSkipSteps) {
        out.push(false);
        continue;
      }
    }
    out.push(true);
    ratio = 1;
    n = 0;
    err = 0;
  }
  return out;
}

export function startMagCache(p: PolicySpec, ctx: CacheContext): CacheRun {
  const ratios = (p.ratios as number[] | undefined) ?? readCacheProfile(p.profile as string).magCache.ratios;
  const schedule = magCacheSchedule(ratios, ctx.total, {
    threshold: p.threshold as number, maxSkipSteps: p.maxSkipSteps as number, retainRatio: p.retainRatio as number,
  });
  return {
    plan(step) {
      return { actions: spanPlans(ctx.depth, new Array<boolean>(ctx.batch).fill(schedule[step.index] ?? true), "reuse") };
    },
    observe() {},
  };
}
