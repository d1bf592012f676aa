// The Guider contract on CFG: which branches a step declares (conditional / unconditional, each computing every
// block; scale 1 = the conditional branch alone), the linear weights ((1 − s)·uncond + s·cond, summing to 1, with
// the unconditional branch as anchor), affineCombination's checks, and block plans (COMPUTE_ALL, blockPlan,
// samePlan, planForwardOptions).
import { describe, expect, it } from "vitest";

import { ClassifierFreeGuidance } from "../../src/guidance/cfg.js";
import { affineCombination, type GuidanceStep } from "../../src/guidance/guider.js";
import { blockPlan, COMPUTE_ALL, planForwardOptions, samePlan } from "../../src/plan.js";

const STEP: GuidanceStep = { index: 3, total: 50, sigma: 0.94, t: 940, depth: 6 };

describe("ClassifierFreeGuidance", () => {
  it("declares a conditional and an unconditional branch, both computing every block", () => {
    const cfg = new ClassifierFreeGuidance({ scale: 4 });
    const branches = cfg.branches(STEP);
    expect(branches.map((b) => [b.name, b.condition])).toEqual([["cond", "class"], ["uncond", "null"]]);
    for (const b of branches) expect(b.plan).toBe(COMPUTE_ALL);
    expect(samePlan(branches[0]!.plan, branches[1]!.plan)).toBe(true);
  });

  it("combines them with linear weights s and 1 − s, anchored on the unconditional branch", () => {
    for (const scale of [4, 2, 0, -0.5, 7.25]) {
      const c = new ClassifierFreeGuidance({ scale }).combination(STEP);
      expect(c.anchor).toBe(1);
      expect(c.weights).toEqual([scale, 1 - scale]);
      expect(c.weights[0]! + c.weights[1]!).toBe(1);
    }
  });

  it("runs the conditional branch alone at scale 1 (weight 1, no unconditional pass)", () => {
    const cfg = new ClassifierFreeGuidance({ scale: 1 });
    expect(cfg.branches(STEP).map((b) => b.condition)).toEqual(["class"]);
    expect(cfg.combination(STEP)).toEqual({ anchor: 0, weights: [1] });
  });

  it("declares the same branches at every step (plain CFG has no schedule)", () => {
    const cfg = new ClassifierFreeGuidance({ scale: 3 });
    expect(cfg.branches({ index: 0, total: 2, sigma: 1, t: 1000, depth: 6 })).toBe(cfg.branches({ index: 1, total: 2, sigma: 0.5, t: 500, depth: 6 }));
  });
});

describe("affineCombination", () => {
  it("gives the anchor 1 − Σ of the other weights", () => {
    expect(affineCombination(3, 0, { 1: 2, 2: -0.5 }).weights).toEqual([-0.5, 2, -0.5]);
  });

  it("rejects a weight on the anchor, out-of-range branches and non-finite weights", () => {
    expect(() => affineCombination(2, 1, { 1: 2 })).toThrow(new RangeError('Expected a branch index other than the anchor 1 for weights key but received "1"'));
    expect(() => affineCombination(2, 2, {})).toThrow(new RangeError("Expected integer between 0 and 1 for anchor but received 2"));
    expect(() => affineCombination(2, 0, { 1: Number.POSITIVE_INFINITY })).toThrow(new TypeError("Expected finite number for weights[1] but received Infinity"));
  });
});

describe("block plans", () => {
  it("keep only non-compute actions, compare by content and map to forward options", () => {
    const a = blockPlan({ 0: { kind: "compute" }, 4: { kind: "skip" }, 2: { kind: "scale", alpha: 0.5 } });
    expect(a.blocks).toEqual({ 2: { kind: "scale", alpha: 0.5 }, 4: { kind: "skip" } });
    expect(samePlan(a, blockPlan({ 4: { kind: "skip" }, 2: { kind: "scale", alpha: 0.5 } }))).toBe(true);
    expect(samePlan(a, blockPlan({ 4: { kind: "skip" }, 2: { kind: "scale", alpha: 0.25 } }))).toBe(false);
    expect(samePlan(a, COMPUTE_ALL)).toBe(false);
    expect(samePlan(blockPlan({ 1: { kind: "compute" } }), COMPUTE_ALL)).toBe(true);
    expect(planForwardOptions(a)).toEqual({ skipBlocks: [4], blockScales: { 2: 0.5 } });
    expect(planForwardOptions(COMPUTE_ALL)).toEqual({});
    expect(Object.isFrozen(a) && Object.isFrozen(a.blocks)).toBe(true);
  });

  it("rejects bad indices and actions", () => {
    expect(() => blockPlan({ [-1]: { kind: "skip" } })).toThrow(new RangeError('Expected non-negative integer block index for blocks key but received "-1"'));
    expect(() => blockPlan({ 1: { kind: "scale", alpha: Number.NaN } })).toThrow(new TypeError("Expected finite number for blocks[1].alpha but received NaN"));
    expect(() => blockPlan({ 1: { kind: "reuse" } as never })).toThrow(new TypeError("Expected 'compute', 'skip', 'scale' or 'perturbAttention' for blocks[1].kind but received \"reuse\""));
  });
});
