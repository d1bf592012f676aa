// A classifier-free guidance scale that varies over the noise level (Wang et al. 2024, "Analysis of Classifier-Free
// Guidance Weight Schedulers", arXiv 2404.13040, TMLR): v = v_u + g(σ)·(v_c − v_u), with a scale that INCREASES as
// denoising proceeds (low guidance at high noise, where strong guidance costs diversity — the same observation as
// Kynkäänniemi et al. 2024's interval — and high guidance at low noise). The paper's monotone schedules, written on
// the guidance strength g − 1 (0 = the conditional model alone) as functions of the progress p = 1 − σ (σ = the flow
// noise level of the step's start, 1 = noise, so they mean the same thing at any step count):
//   linear:  g(σ) = 1 + (scale − 1)·(1 − σ)
//   cosine:  g(σ) = 1 + (scale − 1)·(1 − cos(π(1 − σ)))/2
// and the paper's clamped variant (its "clamp-linear": the schedule never below a floor): g(σ) = max(floor, …)
// (floor 1 = no clamp). `scale` is the peak scale, reached at σ = 0. Both branches (conditional, unconditional; every
// block computed) run at every step, so each step is a linear combination of CFG's two evaluations: it runs as ONE
// native session step, costs exactly CFG's MACs, and composes with any cache policy (the branch count never changes).
import { rangeError, typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { COND, UNCOND } from "./branches.js";
import { affineCombination, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type Guider } from "./guider.js";

export const SCHEDULE_SHAPES = Object.freeze(["linear", "cosine"] as const);
export type ScheduleShape = (typeof SCHEDULE_SHAPES)[number];

export interface ScheduleOptions {
  /** The peak guidance scale, at σ = 0. */
  scale: number;
  /** How the strength rises with 1 − σ (default linear). */
  shape?: ScheduleShape;
  /** The lowest scale the schedule takes (default 1: no clamp). */
  floor?: number;
}

const BRANCHES: readonly GuidanceBranch[] = Object.freeze([COND, UNCOND]);

export class ScheduledGuidance implements Guider {
  readonly kind = "schedule";
  readonly scale: number;
  readonly shape: ScheduleShape;
  readonly floor: number;

  constructor(options: ScheduleOptions) {
    if (options === null || typeof options !== "object") throw typeError("object { scale, shape?, floor? }", "options", options);
    const { scale, shape = "linear", floor = 1 } = options;
    if (typeof scale !== "number" || !Number.isFinite(scale)) throw typeError("finite number", "schedule.scale", scale);
    if (typeof floor !== "number" || !Number.isFinite(floor)) throw typeError("finite number", "schedule.floor", floor);
    if (!SCHEDULE_SHAPES.includes(shape)) throw rangeError(`one of ${SCHEDULE_SHAPES.join(", ")}`, "schedule.shape", shape);
    this.scale = scale;
    this.shape = shape;
    this.floor = floor;
    Object.freeze(this);
  }

  /** The guidance scale g(σ) at noise level σ ∈ [0, 1]. */
  scaleAt(sigma: number): number {
    const p = Math.min(1, Math.max(0, 1 - sigma));
    const f = this.shape === "linear" ? p : (1 - Math.cos(Math.PI * p)) / 2;
    return Math.max(this.floor, 1 + (this.scale - 1) * f);
  }

  /** Both CFG branches at every step (also where g(σ) = 1), so a cache policy sees a fixed branch count. */
  branches(_step: GuidanceStep): readonly GuidanceBranch[] {
    return BRANCHES;
  }

  /** uncond + g(σ)·(cond − uncond): anchored on the unconditional branch, as CFG. */
  combination(step: GuidanceStep): GuidanceCombination {
    return affineCombination(2, 1, { 0: this.scaleAt(step.sigma) });
  }

  /** `--cfg G`: the same shape and floor with its peak at G. */
  withCfgScale(scale: number): ScheduledGuidance {
    return new ScheduledGuidance({ scale, shape: this.shape, floor: this.floor });
  }

  toJSON(): PolicySpec {
    return { kind: "schedule", scale: this.scale, shape: this.shape, floor: this.floor };
  }
}
