// Every cache policy's decision rule on synthetic signals (src/cache/*): the plans each CacheRun gives per step,
// branch and sample for given signals / hits, without a model. The executor's side (signals, rule, budget) is
// tested natively (native/tests/test_cache_signals.cpp) and end to end in test/native/cache.test.ts.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

import { CachePolicy } from "../../src/cache/policy.js";
import { nextGap } from "../../src/cache/auto.js";
import { polyfit } from "../../src/cache/fit.js";
import { controlPsnrAt } from "../../src/eval/cacheBench.js";
import { magCacheSchedule } from "../../src/cache/magCache.js";
import { PROFILE_FORMAT } from "../../src/cache/profile.js";
import type { CacheBranchPlan, CacheContext, CacheRun } from "../../src/cache/run.js";
import { polynomial } from "../../src/cache/teaCache.js";

const DEPTH = 6;
const ctx = (over: Partial<CacheContext> = {}): CacheContext => ({ depth: DEPTH, batch: 2, branches: 2, total: 10, ...over });
const step = (index: number, total = 10) => ({ index, total, sigma: 1 - index / total });

/** What sample s does with the stack at this step: compute, reuse or forecast (from its plan's block 0). */
function kindOf(plan: CacheBranchPlan, s = 0): string {
  return plan.actions ? plan.actions[s]![0]!.kind : "rule";
}

function schedule(run: CacheRun, total: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < total; i++) {
    out.push(kindOf(run.plan(step(i, total), 0)));
    run.observe(step(i, total), [new Float32Array(8), new Float32Array(8)], [new Uint8Array(2), new Uint8Array(2)]);
  }
  return out;
}

describe("static schedules", () => {
  it("fora computes every interval steps after its warm-up and reuses the whole stack between", () => {
    const run = CachePolicy.fora({ interval: 3, warmupSteps: 1 }).start(ctx())!;
    expect(schedule(run, 8)).toEqual(["compute", "compute", "reuse", "reuse", "compute", "reuse", "reuse", "compute"]);
    const plan = CachePolicy.fora().start(ctx())!.plan(step(0), 0);
    expect(plan.actions![0]![0]).toEqual({ kind: "compute", storeEnd: DEPTH });
  });

  it("taylorSeer forecasts (order 1) or reuses (order 0) between full steps", () => {
    const run = CachePolicy.taylorSeer({ interval: 2, warmupSteps: 2 }).start(ctx())!;
    expect(schedule(run, 6)).toEqual(["compute", "compute", "compute", "forecast", "compute", "forecast"]);
    const plan = run.plan(step(3), 1);
    expect(plan.actions![1]).toEqual([{ kind: "forecast", spanEnd: DEPTH }, ...Array(DEPTH - 1).fill({ kind: "skip" })]);
    expect(schedule(CachePolicy.taylorSeer({ order: 0, interval: 2, warmupSteps: 0 }).start(ctx())!, 3)).toEqual(["compute", "reuse", "compute"]);
  });

  it("deltaDit reuses the rear half early and the front half late, storing a new range first", () => {
    const run = CachePolicy.deltaDit({ interval: 2 }).start(ctx({ total: 8 }))!;
    const ranges: string[] = [];
    for (let i = 0; i < 8; i++) {
      const a = run.plan(step(i, 8), 0).actions![0]!;
      const again = run.plan(step(i, 8), 1).actions![0]!; // the second branch gets the same plan
      expect(again).toEqual(a);
      const stored = a.findIndex((x) => x.storeEnd !== undefined), reused = a.findIndex((x) => x.kind === "reuse");
      ranges.push(stored >= 0 ? `store ${stored}-${a[stored]!.storeEnd}` : `reuse ${reused}-${(a[reused] as { spanEnd: number }).spanEnd}`);
    }
    expect(ranges).toEqual(["store 3-6", "reuse 3-6", "store 3-6", "reuse 3-6", "store 0-3", "reuse 0-3", "store 0-3", "reuse 0-3"]);
    const fixed = CachePolicy.deltaDit({ interval: 2, blocks: [1, 4] }).start(ctx())!;
    fixed.plan(step(0), 0);
    expect(fixed.plan(step(1), 0).actions![0]!.map((a) => a.kind)).toEqual(["compute", "reuse", "skip", "skip", "compute", "compute"]);
  });

  it("magCache skips while the accumulated ratio error and skip count stay within bounds, after the retained steps", () => {
    const o = { threshold: 0.1, maxSkipSteps: 2, retainRatio: 0.2 };
    // γ = 0.97 each step: err after 1 skip 0.03, after 2 0.0891 — both within 0.1; the third needs a compute (n > 2)
    expect(magCacheSchedule(Array(10).fill(0.97), 10, o)).toEqual([true, true, false, false, true, false, false, true, false, false]);
    // a steep curve never skips
    expect(magCacheSchedule(Array(10).fill(0.5), 10, o).every(Boolean)).toBe(true);
    // a curve of another length is resampled by nearest index
    expect(magCacheSchedule(Array(20).fill(0.97), 10, o)).toEqual(magCacheSchedule(Array(10).fill(0.97), 10, o));
    const run = CachePolicy.magCache({ ...o, ratios: Array(10).fill(0.97) }).start(ctx())!;
    expect(schedule(run, 10)).toEqual(["compute", "compute", "reuse", "reuse", "compute", "reuse", "reuse", "compute", "reuse", "reuse"]);
  });
});

describe("online rules", () => {
  it("firstBlock / dbCache pass the native rule with warm-up and cached-step caps as per-sample accumulated values", () => {
    const run = CachePolicy.dbCache({ frontBlocks: 2, backBlocks: 1, threshold: 0.1, warmupSteps: 1, maxCachedSteps: 1 }).start(ctx())!;
    expect(run.plan(step(0), 0).firstBlockCache).toEqual({ threshold: 0.1, probeEnd: 2, restEnd: 5, accumulated: [Infinity, Infinity] });
    run.observe(step(0), [new Float32Array(2), new Float32Array(2)], [new Uint8Array(2), new Uint8Array(2)]);
    expect(run.plan(step(1), 0).firstBlockCache!.accumulated).toEqual([0, 0]);
    run.observe(step(1), [new Float32Array(2), new Float32Array(2)], [Uint8Array.of(1, 0), Uint8Array.of(0, 0)]);
    expect(run.plan(step(2), 0).firstBlockCache!.accumulated).toEqual([Infinity, 0]); // sample 0 used its one cached step
    expect(run.plan(step(2), 1).firstBlockCache!.accumulated).toEqual([0, 0]); // per branch
    expect(CachePolicy.firstBlock().start(ctx())!.plan(step(0), 0).firstBlockCache).toEqual({ threshold: 0.05, probeEnd: 1, restEnd: DEPTH, accumulated: [0, 0] });
    expect(() => CachePolicy.dbCache({ frontBlocks: 5, backBlocks: 1 }).start(ctx())).toThrow("Expected frontBlocks + backBlocks below the model's 6 blocks for cache.frontBlocks but received 5");
  });

  it("teaCache accumulates poly(d) over hits, resets on a compute and forces the first and last steps", () => {
    const coefficients = [2, 0.01];
    const run = CachePolicy.teaCache({ threshold: 0.2, coefficients, warmupSteps: 1 }).start(ctx({ total: 4 }))!;
    const p0 = run.plan(step(0, 4), 0).firstBlockCache!;
    expect(p0).toMatchObject({ probe: "input", probeEnd: 0, threshold: 0.2, coefficients, accumulated: [Infinity, Infinity] });
    run.observe(step(0, 4), [Float32Array.of(Infinity, Infinity), Float32Array.of(Infinity, Infinity)], [new Uint8Array(2), new Uint8Array(2)]);
    expect(run.plan(step(1, 4), 0).firstBlockCache!.accumulated).toEqual([0, 0]);
    run.observe(step(1, 4), [Float32Array.of(0.05, 0.3), Float32Array.of(0.05, 0.05)], [Uint8Array.of(1, 0), Uint8Array.of(1, 1)]);
    expect(run.plan(step(2, 4), 0).firstBlockCache!.accumulated).toEqual([polynomial(coefficients, Math.fround(0.05)), 0]);
    expect(run.plan(step(3, 4), 0).firstBlockCache!.accumulated).toEqual([Infinity, Infinity]); // the last step computes
    expect(polynomial([1, 2, 3], 2)).toBe(11);
  });

  it("easyCache learns the transformation rate from two computed steps and scales d by it", () => {
    const run = CachePolicy.easyCache({ threshold: 0.1, warmupSteps: 1 }).start(ctx({ batch: 1, branches: 1, total: 10 }))!;
    const observe = (i: number, e: number, d: number, hit: number) => run.observe(step(i), [Float32Array.of(e, d)], [Uint8Array.of(hit)]);
    expect(run.plan(step(0), 0)).toMatchObject({ signals: [{ block: 0, kind: "forecastError", end: DEPTH, order: 0 }], firstBlockCache: { probe: "input", accumulated: [Infinity] } });
    observe(0, Infinity, Infinity, 0);
    observe(1, 0.2, 0.1, 0); // k̂ = 0.2 / 0.1 = 2
    expect(run.plan(step(2), 0).firstBlockCache).toMatchObject({ accumulated: [Infinity], scale: [2] }); // one computed step after warm-up
    observe(2, 0.1, 0.1, 0); // k̂ = 1
    expect(run.plan(step(3), 0).firstBlockCache).toMatchObject({ accumulated: [0], scale: [1] });
    observe(3, NaN, 0.04, 1);
    expect(run.plan(step(4), 0).firstBlockCache!.accumulated![0]).toBeCloseTo(0.04);
    observe(4, 0.3, 0.06, 0); // k̂ = 0.3 / (0.04 + 0.06)
    expect(run.plan(step(5), 0).firstBlockCache).toMatchObject({ accumulated: [0] });
    expect(run.plan(step(5), 0).firstBlockCache!.scale![0]).toBeCloseTo(3);
  });
});

describe("auto (forecast and verify)", () => {
  it("places the next full step by step-size control on the measured forecast error", () => {
    expect(nextGap(Infinity, 1, 1, 0.05, 4)).toBe(1);
    // K = 2e / (h (h + H)) = 2·0.01 / 2 = 0.01; gap g allowed while K (g−1)(g−1+h) / 2 <= tol
    expect(nextGap(0.01, 1, 1, 0.05, 8)).toBe(3); // m = 2: 0.01·2·3/2 = 0.03 ok; m = 3: 0.06 > 0.05
    expect(nextGap(0.01, 1, 1, 0.05, 2)).toBe(2); // capped by maxGap
    expect(nextGap(1, 1, 1, 0.05, 8)).toBe(1); // a bend: the next step computes
    expect(nextGap(0.001, 2, 1, 0.05, 4)).toBe(4);
  });

  it("forecasts per sample between full steps and verifies at each full step", () => {
    const run = CachePolicy.auto({ tolerance: 0.05, maxGap: 3 }).start(ctx({ total: 12 }))!;
    const kinds: string[][] = [];
    for (let i = 0; i < 8; i++) {
      const plans = [run.plan(step(i, 12), 0), run.plan(step(i, 12), 1)];
      expect(plans[1]).toEqual(plans[0]); // both branches follow the sample's decision
      expect(plans[0]!.signals).toEqual([{ block: 0, kind: "forecastError", end: DEPTH, order: 1 }]);
      kinds.push([kindOf(plans[0]!, 0), kindOf(plans[0]!, 1)]);
      // sample 0's forecasts are accurate, sample 1's are not (in one branch: the worse counts)
      const errors = (b: number) => Float32Array.of(i < 2 ? Infinity : 0.001, b === 0 ? 0.001 : i < 2 ? Infinity : 0.5);
      run.observe(step(i, 12), [errors(0), errors(1)], [new Uint8Array(2), new Uint8Array(2)]);
    }
    expect(kinds.map((k) => k[0])).toEqual(["compute", "compute", "compute", "forecast", "forecast", "compute", "forecast", "forecast"]);
    expect(kinds.every((k) => k[1] === "compute")).toBe(true);
  });
});

describe("policy objects and profiles", () => {
  it("round-trip through toJSON / fromJSON and SPEC strings with every parameter resolved", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ditto-profile-"));
    const profile = path.join(dir, "p.json");
    writeFileSync(profile, JSON.stringify({ format: PROFILE_FORMAT, source: {}, teaCache: { coefficients: [1, 0] }, magCache: { ratios: [1, 0.9] } }));
    for (const spec of ["fora", "deltaDit:blocks=1+4", "teaCache:coefficients=-2.5+1+0.1", `teaCache:profile=${profile}`, "firstBlock:threshold=0.1",
      "dbCache:frontBlocks=2", "taylorSeer:order=0", "magCache:ratios=1+0.95+0.9", `magCache:profile=${profile}`, "easyCache", "auto:tolerance=0.1"]) {
      const policy = CachePolicy.from(spec);
      const back = CachePolicy.fromJSON(JSON.parse(JSON.stringify(policy)));
      expect(back.toJSON()).toEqual(policy.toJSON());
      expect(CachePolicy.from(policy.toString()).toJSON()).toEqual(policy.toJSON());
      expect(Object.isFrozen(policy)).toBe(true);
    }
    expect(CachePolicy.auto().toJSON()).toEqual({ kind: "auto", tolerance: 0.05, warmupSteps: 2, maxGap: 6 });
    writeFileSync(profile, "{}");
    expect(() => CachePolicy.teaCache({ profile })).toThrow(`Expected a ${PROFILE_FORMAT} file from ditto calibrate (teaCache.coefficients, magCache.ratios) in ${profile}`);
  });

  it("polyfit recovers a degree-4 polynomial by least squares", () => {
    const truth = [-300, 80, -5, 1.5, 0.02];
    const x = Array.from({ length: 40 }, (_, i) => 0.005 + i * 0.004);
    const fit = polyfit(x, x.map((v) => polynomial(truth, v)), 4);
    fit.forEach((c, i) => expect(c).toBeCloseTo(truth[i]!, 3));
    expect(() => polyfit([1, 2], [1, 2], 4)).toThrow("Expected more than 4 points for a degree-4 fit but received 2");
  });
});

describe("the fewer-steps control line", () => {
  it("interpolates the control's PSNR between its MACs reductions and refuses to compare below its range", () => {
    const control = [{ macsReduction: 3.125, psnr: 30 }, { macsReduction: 2, psnr: 37 }, { macsReduction: 5, psnr: 25 }];
    expect(controlPsnrAt(control, 2)).toBe(37);
    expect(controlPsnrAt(control, 1.97)).toBe(37);
    expect(controlPsnrAt(control, 1.5)).toBeUndefined();
    expect(controlPsnrAt(control, 2.5625)).toBeCloseTo(33.5);
    expect(controlPsnrAt(control, 6)).toBe(25);
  });
});
