// Classifier-free guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance"): v = v_u + s·(v_c − v_u) =
// (1 − s)·v_u + s·v_c from a conditional and an unconditional (null-label) branch, both computing every block, in
// that batch order (the layout of official DiT's forward_with_cfg). s = 1 is the conditional model alone: one
// branch, no unconditional pass.
import { typeError } from "../errors.js";
import { COMPUTE_ALL } from "../plan.js";
import type { PolicySpec } from "../policySpec.js";
import { affineCombination, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type Guider } from "./guider.js";

const CONDITIONAL: GuidanceBranch = Object.freeze({ name: "cond", condition: "class", plan: COMPUTE_ALL });
const UNCONDITIONAL: GuidanceBranch = Object.freeze({ name: "uncond", condition: "null", plan: COMPUTE_ALL });
const CONDITIONAL_ONLY: readonly GuidanceBranch[] = Object.freeze([CONDITIONAL]);
const BOTH: readonly GuidanceBranch[] = Object.freeze([CONDITIONAL, UNCONDITIONAL]);

export class ClassifierFreeGuidance implements Guider {
  readonly kind = "cfg";
  /** The guidance scale s. */
  readonly scale: number;
  readonly #branches: readonly GuidanceBranch[];
  readonly #combination: GuidanceCombination;

  constructor(options: { scale: number }) {
    if (options === null || typeof options !== "object") throw typeError("object { scale }", "options", options);
    const { scale } = options;
    if (typeof scale !== "number" || !Number.isFinite(scale)) throw typeError("finite number", "cfg.scale", scale);
    this.scale = scale;
    this.#branches = scale === 1 ? CONDITIONAL_ONLY : BOTH;
    // Anchor = the unconditional branch (index 1): uncond + s·(cond − uncond).
    this.#combination = scale === 1 ? affineCombination(1, 0, {}) : affineCombination(2, 1, { 0: scale });
    Object.freeze(this);
  }

  /** The same branches at every step (plain CFG has no schedule). */
  branches(_step?: GuidanceStep): readonly GuidanceBranch[] {
    return this.#branches;
  }

  combination(_step?: GuidanceStep): GuidanceCombination {
    return this.#combination;
  }

  get cfgScale(): number {
    return this.scale;
  }

  withCfgScale(scale: number): ClassifierFreeGuidance {
    return new ClassifierFreeGuidance({ scale });
  }

  toJSON(): PolicySpec {
    return { kind: "cfg", scale: this.scale };
  }
}
