// `auto`: Ditto's own policy — forecast-and-verify with step-size control (docs/caching.md). What the published
// rules get wrong here: a magic threshold on a proxy signal (TeaCache, FBCache, DBCache, EasyCache) or a fixed
// schedule (FORA, TaylorSeer, MagCache), and copying a stale residual. Reusing the whole output for k steps is just
// Euler with k times fewer steps; the only way to beat that is to predict better and to place the full steps where
// the trajectory bends. So, per sample:
//   - skipped steps FORECAST the residual of the whole block stack to first order from the last two full steps
//     (the executor's Forecast: finite difference over their actual gap);
//   - every full step VERIFIES for free: before the new residual R replaces the stored ones the executor measures
//     e = |P − R| / |R|, P being what the forecast would have added at this step (ForecastError signal);
//   - a quality budget instead of a threshold: the extrapolation error of a smooth curve at distance m from points
//     spaced H is K·m·(m + H)/2, so the measured e (at distance h, spacing H) calibrates K online, and the next full
//     step is placed at the largest gap g whose worst forecast (m = g − 1, spacing h) stays within `tolerance` — the
//     step-size control of adaptive ODE solvers, with the computed step as the corrector. Where the trajectory
//     bends K grows and full steps come closer; where it is straight they spread out (at most `maxGap` apart).
//   - each sample keeps its own schedule (its rows run batched with the other samples that compute); both CFG
//     branches follow the sample's decision, judged by the worse of their two errors.
// `tolerance` is a relative error, so it means the same thing on any model; `warmupSteps` (default 2) full steps
// start the history.
import type { PolicySpec } from "../policySpec.js";
import { intParam, numberParam } from "./params.js";
import { spanPlans, type CacheContext, type CacheRun } from "./run.js";

export const AUTO_DEFAULTS = Object.freeze({ tolerance: 0.05, warmupSteps: 2, maxGap: 6 });

export function autoParams(p: PolicySpec): PolicySpec {
  return {
    kind: "auto",
    tolerance: numberParam(p, "tolerance", AUTO_DEFAULTS.tolerance, 0),
    warmupSteps: intParam(p, "warmupSteps", AUTO_DEFAULTS.warmupSteps, 2),
    maxGap: intParam(p, "maxGap", AUTO_DEFAULTS.maxGap, 1),
  };
}

/**
 * The next gap after a full step whose forecast error was `error` at distance `h` from history spaced `spacing`:
 * the largest g ≤ maxGap with K·(g−1)·(g−1+h)/2 ≤ tolerance, K = 2·error / (h·(h + spacing)); 1 when unknown.
 */
export function nextGap(error: number, h: number, spacing: number, tolerance: number, maxGap: number): number {
  if (!Number.isFinite(error) || h < 1 || spacing < 1) return 1;
  const k = (2 * error) / (h * (h + spacing));
  let g = 1;
  while (g < maxGap && (k * g * (g + h)) / 2 <= tolerance) g++;
  return g;
}

export function startAuto(p: PolicySpec, ctx: CacheContext): CacheRun {
  const tolerance = p.tolerance as number, warmup = p.warmupSteps as number, maxGap = p.maxGap as number;
  const { batch, depth } = ctx;
  const next = new Array<number>(batch).fill(0);
  const last = new Array<number>(batch).fill(-1), before = new Array<number>(batch).fill(-1);
  let decided = -1;
  let compute: boolean[] = [];
  const signals = [{ block: 0, kind: "forecastError" as const, end: depth, order: 1 as const }];
  return {
    plan(step) {
      if (decided !== step.index) {
        decided = step.index;
        compute = next.map((n) => step.index < warmup || step.index >= n);
      }
      return { actions: spanPlans(depth, compute, "forecast"), signals };
    },
    observe(step, results) {
      const i = step.index;
      for (let s = 0; s < batch; s++) {
        if (!compute[s]) continue;
        let error = 0;
        for (const r of results) error = Math.max(error, Number.isNaN(r[s]!) ? Infinity : r[s]!);
        const h = last[s]! >= 0 ? i - last[s]! : 0, spacing = last[s]! >= 0 && before[s]! >= 0 ? last[s]! - before[s]! : 0;
        next[s] = i + nextGap(error, h, spacing, tolerance, maxGap);
        before[s] = last[s]!;
        last[s] = i;
      }
    },
  };
}
