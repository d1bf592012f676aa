// The guidance interval (Kynkäänniemi et al. 2024, "Applying Guidance in a Limited Interval Improves Sample and
// Distribution Quality in Diffusion Models"): guidance only for noise levels σ ∈ (sigmaLo, sigmaHi]; outside it ONE
// branch runs, the conditional model with every block computed (no guidance pass is paid for). The interval is in σ
// (the flow-matching noise level of the step's start, 0…1), not in step fractions (shared/research/guidance.md §6.4),
// so it means the same thing at any step count. Any Guider can be limited this way (`GuidanceInterval.limit`, or
// sigmaLo / sigmaHi in any method's SPEC); `interval:scale=…,sigmaLo=…,sigmaHi=…` is CFG in an interval.
import { rangeError, typeError } from "../errors.js";
import { COMPUTE_ALL } from "../plan.js";
import type { PolicySpec } from "../policySpec.js";
import { affineCombination, type GuidanceBranch, type GuidanceCombination, type GuidanceStep, type Guider, type NonlinearCombination } from "./guider.js";

const CONDITIONAL_ONLY: readonly GuidanceBranch[] = Object.freeze([Object.freeze({ name: "cond", condition: "class" as const, plan: COMPUTE_ALL })]);
const IDENTITY = affineCombination(1, 0, {});

export interface SigmaWindow {
  /** Guidance runs for σ > sigmaLo … */
  readonly sigmaLo: number;
  /** … and σ ≤ sigmaHi. */
  readonly sigmaHi: number;
}

export function checkWindow(w: Partial<SigmaWindow>, what: string): SigmaWindow {
  const sigmaLo = w.sigmaLo ?? 0, sigmaHi = w.sigmaHi ?? 1;
  for (const [key, v] of [["sigmaLo", sigmaLo], ["sigmaHi", sigmaHi]] as const) {
    if (typeof v !== "number" || !(v >= 0 && v <= 1)) throw rangeError("number between 0 and 1", `${what}.${key}`, v);
  }
  if (!(sigmaLo < sigmaHi)) throw rangeError(`number greater than sigmaLo (${sigmaLo})`, `${what}.sigmaHi`, sigmaHi);
  return Object.freeze({ sigmaLo, sigmaHi });
}

/** Schedulers hold σ in float32 (fround(0.2) > 0.2): a σ within this of a bound counts as equal to it. */
const SIGMA_TOLERANCE = 1e-6;

/** Whether a step is inside the window (σ ∈ (lo, hi], a grid σ equal to a bound up to float32 rounding being on it). */
export function inWindow(w: SigmaWindow, step: GuidanceStep): boolean {
  return step.sigma > w.sigmaLo + SIGMA_TOLERANCE && step.sigma <= w.sigmaHi + SIGMA_TOLERANCE;
}

export class GuidanceInterval implements Guider {
  readonly kind: string;
  readonly inner: Guider;
  readonly sigmaLo: number;
  readonly sigmaHi: number;

  private constructor(inner: Guider, window: SigmaWindow) {
    this.inner = inner;
    this.kind = inner.kind;
    this.sigmaLo = window.sigmaLo;
    this.sigmaHi = window.sigmaHi;
    Object.freeze(this);
  }

  /** `inner` inside σ ∈ (sigmaLo, sigmaHi], the conditional model alone outside. */
  static limit(inner: Guider, window: Partial<SigmaWindow>): GuidanceInterval {
    if (inner === null || typeof inner !== "object" || typeof inner.branches !== "function") throw typeError("Guider", "inner", inner);
    const w = checkWindow(window, "interval");
    // Limiting a limited method intersects the windows rather than nesting wrappers.
    if (inner instanceof GuidanceInterval) {
      return new GuidanceInterval(inner.inner, checkWindow({ sigmaLo: Math.max(w.sigmaLo, inner.sigmaLo), sigmaHi: Math.min(w.sigmaHi, inner.sigmaHi) }, "interval"));
    }
    return new GuidanceInterval(inner, w);
  }

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return inWindow(this, step) ? this.inner.branches(step) : CONDITIONAL_ONLY;
  }

  combination(step: GuidanceStep): GuidanceCombination | NonlinearCombination {
    return inWindow(this, step) ? this.inner.combination(step) : IDENTITY;
  }

  get cfgScale(): number | undefined {
    return (this.inner as { cfgScale?: number }).cfgScale;
  }

  withCfgScale(scale: number): Guider {
    const inner = this.inner.withCfgScale ? this.inner.withCfgScale(scale) : this.inner;
    return new GuidanceInterval(inner, this);
  }

  toJSON(): PolicySpec {
    const spec = this.inner.toJSON();
    // CFG in an interval is the `interval` method; any other method keeps its kind and gains the window keys.
    if (spec.kind === "cfg") return { kind: "interval", scale: spec.scale as number, sigmaLo: this.sigmaLo, sigmaHi: this.sigmaHi };
    return { ...spec, sigmaLo: this.sigmaLo, sigmaHi: this.sigmaHi };
  }
}
