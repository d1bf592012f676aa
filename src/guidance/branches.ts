// The branches guidance methods are built from (docs/guidance.md): the conditional and unconditional model with
// every block computed, and perturbed branches (a weak or strong variant of the model, src/guidance/weak.ts)
// resolved against the model's depth once per depth, so a step's plan objects are stable and equal plans batch.
import type { Model } from "../model.js";
import { COMPUTE_ALL } from "../plan.js";
import type { BranchCondition, GuidanceBranch } from "./guider.js";
import { describePerturbation, perturbationPlan, type Perturbation } from "./weak.js";

export const COND: GuidanceBranch = Object.freeze({ name: "cond", condition: "class", plan: COMPUTE_ALL });
export const UNCOND: GuidanceBranch = Object.freeze({ name: "uncond", condition: "null", plan: COMPUTE_ALL });

/** A branch with the given perturbations (same condition as `condition`), cached per depth. */
export class PerturbedBranch {
  readonly #byDepth = new Map<number, GuidanceBranch>();
  readonly role: string;
  readonly condition: BranchCondition;
  readonly perturbations: readonly Perturbation[];

  constructor(role: string, perturbations: readonly Perturbation[], condition: BranchCondition = "class") {
    this.role = role;
    this.condition = condition;
    this.perturbations = Object.freeze([...perturbations]);
  }

  at(depth: number): GuidanceBranch {
    let branch = this.#byDepth.get(depth);
    if (!branch) {
      const name = `${this.role}:${this.condition === "null" ? "null:" : ""}${this.perturbations.map(describePerturbation).join(",")}`;
      branch = Object.freeze({ name, condition: this.condition, plan: perturbationPlan(this.perturbations, depth) });
      this.#byDepth.set(depth, branch);
    }
    return branch;
  }
}

/** The conditional branch on a separately loaded model (the original autoguidance's weak network). */
export function modelBranch(role: string, model: Model): GuidanceBranch {
  return Object.freeze({ name: `${role}:model`, condition: "class", plan: COMPUTE_ALL, model });
}
