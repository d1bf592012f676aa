// The Guider contract (docs/architecture.md, "branches, blocks and plans"; docs/guidance.md): at every sampling step a
// guidance method declares its branches — the denoiser evaluations it needs, each with a condition (the sample's
// class label, or the null label), a block plan and optionally a second, separately loaded model (the weak network
// of Karras et al. 2024) — and how their outputs combine into the guided model output. A LINEAR combination
// (weights summing to 1; CFG: (1 − s)·uncond + s·cond) runs in the native step epilogue without a round trip through
// JS. A NON-LINEAR one (APG's projection, CFG-Zero*'s optimised scale) is a function of the branch outputs that the
// pipeline calls after the step's branches ran (one session job per model, outputs returned): the same loop, the
// same branches, only the last combination differs.
//
// Float order: the weights say WHAT is computed; `combineBranches` says HOW in float32, and it is the order the
// pipeline has always used for CFG: out = a + Σ_{b≠a} w_b·(out_b − a) over the non-anchor branches in branch order,
// each of (−, ·, +) rounded to float32 (a = the anchor branch). For CFG (anchor = uncond) that is exactly
// uncond + s·(cond − uncond), bit for bit. An epilogue that wants the same bits must keep that order (no FMA).
import { rangeError, typeError } from "../errors.js";
import type { Model } from "../model.js";
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
  /** A separately loaded model this branch runs on instead of the pipeline's (same input / output shapes). */
  readonly model?: Model;
  /** A model the pipeline derives from its own and runs this branch on (autoguidance's low-rank weak copy). */
  readonly derive?: DerivedModelSpec;
}

/** How to derive a weak model from the pipeline's model (src/guidance/lowRank.ts). */
export interface DerivedModelSpec {
  readonly kind: "lowRank";
  /** Share of each block linear weight's rank kept, in (0, 1). */
  readonly rankFraction: number;
}

/** guided = Σ_b weights[b]·out_b, evaluated from the anchor branch (see the header for the float order). */
export interface GuidanceCombination {
  /** Index of the branch the differences are taken against. */
  readonly anchor: number;
  /** One weight per branch, summing to 1 (weights[anchor] = 1 − Σ of the others). */
  readonly weights: readonly number[];
}

/**
 * A non-linear combination: `combine` maps the branch outputs (same order as the branches, each [B·C·H·W] f32 model
 * outputs, here flow velocities v) to the guided output. `memory` is one object per generation (APG's momentum
 * lives there), so the Guider itself stays immutable.
 */
export interface NonlinearCombination {
  readonly nonlinear: true;
  combine(outputs: readonly Float32Array[], context: CombineContext): Float32Array;
  /**
   * Optional: the same combination in Tensor arithmetic, run where the tensors live. The pipeline uses it when the
   * latents are on a GPU (docs/cuda.md: they then never leave the device); without it the outputs and x are copied to
   * the host for `combine` and the result back. Returns a new Tensor shaped like x; `combine` stays the reference.
   */
  combineTensors?(outputs: readonly Tensor[], context: TensorCombineContext): Tensor;
}

/** CombineContext with the step's input as a Tensor (on the device the branch outputs are on). */
export interface TensorCombineContext {
  readonly x: Tensor;
  readonly batch: number;
  readonly step: GuidanceStep;
  /** Per-generation scratch state; Tensors stored here are disposed when the generation ends. */
  readonly memory: Record<string, unknown>;
}

export interface CombineContext {
  /** The step's input sample x_t, [B·C·H·W]. */
  readonly x: Float32Array;
  readonly batch: number;
  readonly step: GuidanceStep;
  /** Per-generation scratch state of the method (empty at the first step). */
  readonly memory: Record<string, unknown>;
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
  /** Number of transformer blocks of the model (methods that name blocks by fraction of depth resolve them here). */
  readonly depth: number;
}

export interface Guider {
  /** The guidance method's name, as in its SPEC (e.g. "cfg"). */
  readonly kind: string;
  /** The branches this step evaluates, in batch order. */
  branches(step: GuidanceStep): readonly GuidanceBranch[];
  /** How this step's branch outputs (in the order of branches(step)) combine. */
  combination(step: GuidanceStep): GuidanceCombination | NonlinearCombination;
  /** The method as a plain policy object (round-trips through guiderFrom). */
  toJSON(): PolicySpec;
  /** The CFG scale of a method with a CFG term (D_u + g(D_c − D_u) + …); undefined for methods without one. */
  readonly cfgScale?: number;
  /** The same method with its CFG term at `scale` (`--cfg G` with `--guidance`); absent for methods without one. */
  withCfgScale?(scale: number): Guider;
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

/** Whether a combination is a non-linear one (combined on the JS side after the branches ran). */
export function isNonlinear(c: GuidanceCombination | NonlinearCombination): c is NonlinearCombination {
  return (c as NonlinearCombination).nonlinear === true;
}
