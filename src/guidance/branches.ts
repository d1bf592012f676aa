// The branches guidance methods are built from (docs/guidance.md): the conditional and unconditional model with
// every block computed, and perturbed branches (a weak or strong variant of the model, src/guidance/weak.ts)
// resolved against the model's depth once per depth, so a step's plan objects are stable and equal plans batch.
import type { Model } from "../model.js";
import { COMPUTE_ALL } from "../plan.js";
import type { BranchCondition, DerivedModelSpec, GuidanceBranch } from "./guider.js";
import { describePerturbation, perturbationPlan, type Perturbation } from "./weak.js";

export const COND: GuidanceBranch = Object.freeze({ name: "cond", condition: "class", plan: COMPUTE_ALL });
export const UNCOND: GuidanceBranch = Object.freeze({ name: "uncond", condition: "null", plan: COMPUTE_ALL });

/** Memoises build(depth): a guidance method resolves its branches and combination once per model depth. */
export function memoByDepth<T>(build: (depth: number) => T): (depth: number) => T {
  const byDepth = new Map<number, T>();
  return (depth) => {
    let value = byDepth.get(depth);
    if (value === undefined) {
      value = build(depth);
      byDepth.set(depth, value);
    }
    return value;
  };
}

/** A branch with the given perturbations (same condition as `condition`), cached per depth. */
export class PerturbedBranch {
  readonly role: string;
  readonly condition: BranchCondition;
  readonly perturbations: readonly Perturbation[];

  constructor(role: string, perturbations: readonly Perturbation[], condition: BranchCondition = "class") {
    this.role = role;
    this.condition = condition;
    this.perturbations = Object.freeze([...perturbations]);
  }

  at(depth: number): GuidanceBranch {
    return this.#at(depth);
  }

  readonly #at = memoByDepth((depth): GuidanceBranch => {
    const name = `${this.role}:${this.condition === "null" ? "null:" : ""}${this.perturbations.map(describePerturbation).join(",")}`;
    return Object.freeze({ name, condition: this.condition, plan: perturbationPlan(this.perturbations, depth) });
  });
}

const nullTag = (condition: BranchCondition) => (condition === "null" ? ":null" : "");

/** A branch on a separately loaded model (the original autoguidance's weak network); conditional by default. */
export function modelBranch(role: string, model: Model, condition: BranchCondition = "class"): GuidanceBranch {
  return Object.freeze({ name: `${role}:model${nullTag(condition)}`, condition, plan: COMPUTE_ALL, model });
}

/** A branch on a model the pipeline derives from its own (autoguidance's low-rank weak copy); conditional by default. */
export function derivedBranch(role: string, derive: DerivedModelSpec, condition: BranchCondition = "class"): GuidanceBranch {
  return Object.freeze({ name: `${role}:${derive.kind}=${derive.rankFraction}${nullTag(condition)}`, condition, plan: COMPUTE_ALL, derive: Object.freeze({ ...derive }) });
}
