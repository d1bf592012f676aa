// The Guider contract (docs/architecture.md, "branches, blocks and plans"): at every sampling step a guidance method declares its branches — the denoiser
// evaluations it needs, each with a condition (the sample's class label, or the null label) and a block plan — and
// how their outputs combine into the guided model output. Every combination here is LINEAR in the branch outputs
// with weights that sum to 1 (CFG: (1 − s)·uncond + s·cond), so a native step epilogue can apply it without a round
// trip through JS. Non-linear methods (APG's projection) are not Guiders of this kind yet.
//
// Float order: the weights say WHAT is computed; `combineBranches` says HOW in float32, and it is the order the
// pipeline has always used for CFG: out = a + Σ_{b≠a} w_b·(out_b − a) over the non-anchor branches in branch order,
// each of (−, ·, +) rounded to float32 (a = the anchor branch). For CFG (anchor = uncond) that is exactly
// uncond + s·(cond − uncond), bit for bit. An epilogue that wants the same bits must keep that order (no FMA).
import { rangeError, typeError } from "../errors.js";
import type { BlockPlan } from "../plan.js";
import type { PolicySpec } from "../policySpec.js";
import { Tensor } from "../tensor.js";

/** Which labels a branch runs with: each sample's own class label, or the model's null (unconditional) label. */
export type BranchCondition = "class" | "null";

export interface GuidanceBranch {
  /** A short name for stats and errors ("cond", "uncond", …). */
  readonly name: string;
  readonly condition: BranchCondition;
  /** What each block does in this branch (COMPUTE_ALL for CFG). Branches with the same plan run in one batch. */
  readonly plan: BlockPlan;
}

/** guided = Σ_b weights[b]·out_b, evaluated from the anchor branch (see the header for the float order). */
export interface GuidanceCombination {
  /** Index of the branch the differences are taken against. */
  readonly anchor: number;
  /** One weight per branch, summing to 1 (weights[anchor] = 1 − Σ of the others). */
  readonly weights: readonly number[];
}

/** Where in the sampling loop a step is. */
export interface GuidanceStep {
  /** 0-based index of the step among those run. */
  readonly index: number;
  readonly total: number;
  /** Noise level the step starts from. */
  readonly sigma: number;
  /** The network's timestep input. */
  readonly t: number;
}

export interface Guider {
  /** The guidance method's name, as in its SPEC (e.g. "cfg"). */
  readonly kind: string;
  /** The branches this step evaluates, in batch order. */
  branches(step: GuidanceStep): readonly GuidanceBranch[];
  /** How this step's branch outputs (in the order of branches(step)) combine. */
  combination(step: GuidanceStep): GuidanceCombination;
  /** The method as a plain policy object (round-trips through guiderFrom). */
  toJSON(): PolicySpec;
}

/** A combination with the given anchor and weights for the other branches; the anchor gets 1 − Σ of them. */
export function affineCombination(branchCount: number, anchor: number, others: Readonly<Record<number, number>>): GuidanceCombination {
  if (!Number.isSafeInteger(branchCount) || branchCount < 1) throw rangeError("positive integer", "branchCount", branchCount);
  if (!Number.isSafeInteger(anchor) || anchor < 0 || anchor >= branchCount) throw rangeError(`integer between 0 and ${branchCount - 1}`, "anchor", anchor);
  const weights = new Array<number>(branchCount).fill(0);
  let rest = 0;
  for (const [key, w] of Object.entries(others)) {
    const b = Number(key);
    if (!Number.isSafeInteger(b) || b < 0 || b >= branchCount || b === anchor) throw rangeError(`a branch index other than the anchor ${anchor}`, "weights key", key);
    if (typeof w !== "number" || !Number.isFinite(w)) throw typeError("finite number", `weights[${b}]`, w);
    weights[b] = w;
    rest += w;
  }
  weights[anchor] = 1 - rest;
  return Object.freeze({ anchor, weights: Object.freeze(weights) });
}

/**
 * Evaluates a combination on the branch outputs (same order as the branches, same shape): the anchor plus each other
 * branch's weighted difference, in float32 with the rounding order stated in the header. With a single branch the
 * result IS outputs[0] (no copy); otherwise a new tensor. The caller keeps ownership of `outputs`.
 */
export function combineBranches(combination: GuidanceCombination, outputs: readonly Tensor[]): Tensor {
  const { anchor, weights } = combination;
  if (!Array.isArray(outputs) || outputs.length !== weights.length || !outputs.every((o) => o instanceof Tensor)) {
    throw typeError(`array of ${weights.length} Tensors (one per branch)`, "outputs", outputs);
  }
  const base = outputs[anchor]!;
  let acc = base;
  for (let b = 0; b < outputs.length; b++) {
    if (b === anchor) continue;
    const diff = outputs[b]!.sub(base);
    const weighted = diff.scale(weights[b]!);
    diff.dispose();
    const next = acc.add(weighted);
    weighted.dispose();
    if (acc !== base) acc.dispose();
    acc = next;
  }
  return acc;
}
