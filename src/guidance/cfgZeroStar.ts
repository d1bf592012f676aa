// CFG-Zero* (Fan et al. 2025, arXiv 2503.18886; WeichenFan/CFG-Zero-star): the optimised scale s* = ⟨v_c, v_u⟩/‖v_u‖²
// per sample (float64 over C·H·W) and v = s*·v_u + w(v_c − s*·v_u); zero-init: the velocity is 0 for the first
// `zeroInitSteps` steps (diffusers' `step < zero_init_steps`; the reference's `i <= zero_steps` is zeroInitSteps =
// zero_steps + 1; shared/research/guidance.md errata 9). On zeroed steps no branch is evaluated: their output would be
// discarded (the reference still runs both passes and pays for them).
import { rangeError, typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { COND, UNCOND } from "./branches.js";
import type { CombineContext, GuidanceBranch, GuidanceStep, Guider, NonlinearCombination } from "./guider.js";

export interface CfgZeroStarOptions {
  cfgScale: number;
  /** Steps whose velocity is zeroed (README advice: about 4% of the steps; diffusers default 1). */
  zeroInitSteps?: number;
}

const BRANCHES: readonly GuidanceBranch[] = Object.freeze([COND, UNCOND]);
const NONE: readonly GuidanceBranch[] = Object.freeze([]);

export class CfgZeroStar implements Guider {
  readonly kind = "cfgZeroStar";
  readonly cfgScale: number;
  readonly zeroInitSteps: number;
  readonly #combination: NonlinearCombination;
  readonly #zero: NonlinearCombination;

  constructor(options: CfgZeroStarOptions) {
    if (options === null || typeof options !== "object") throw typeError("object { cfgScale, zeroInitSteps? }", "options", options);
    const { cfgScale, zeroInitSteps = 1 } = options;
    if (typeof cfgScale !== "number" || !Number.isFinite(cfgScale)) throw typeError("finite number", "cfgZeroStar.cfgScale", cfgScale);
    if (!Number.isSafeInteger(zeroInitSteps) || zeroInitSteps < 0) throw rangeError("non-negative integer", "cfgZeroStar.zeroInitSteps", zeroInitSteps);
    this.cfgScale = cfgScale;
    this.zeroInitSteps = zeroInitSteps;
    this.#combination = Object.freeze({ nonlinear: true as const, combine: (o: readonly Float32Array[], c: CombineContext) => this.#combine(o, c) });
    this.#zero = Object.freeze({ nonlinear: true as const, combine: (_o: readonly Float32Array[], c: CombineContext) => new Float32Array(c.x.length) });
    Object.freeze(this);
  }

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return step.index < this.zeroInitSteps ? NONE : BRANCHES;
  }

  combination(step: GuidanceStep): NonlinearCombination {
    return step.index < this.zeroInitSteps ? this.#zero : this.#combination;
  }

  #combine(outputs: readonly Float32Array[], { x, batch }: CombineContext): Float32Array {
    const [vc, vu] = outputs as [Float32Array, Float32Array];
    const n = x.length / batch, w = this.cfgScale;
    const out = new Float32Array(x.length);
    for (let b = 0; b < batch; b++) {
      const o = b * n;
      let dot = 0, uu = 0;
      for (let i = o; i < o + n; i++) { dot += vc[i]! * vu[i]!; uu += vu[i]! * vu[i]!; }
      const s = uu > 0 ? dot / uu : 1;
      for (let i = o; i < o + n; i++) {
        const base = s * vu[i]!;
        out[i] = base + w * (vc[i]! - base);
      }
    }
    return out;
  }

  withCfgScale(cfgScale: number): CfgZeroStar {
    return new CfgZeroStar({ cfgScale, zeroInitSteps: this.zeroInitSteps });
  }

  toJSON(): PolicySpec {
    return { kind: "cfgZeroStar", cfgScale: this.cfgScale, zeroInitSteps: this.zeroInitSteps };
  }
}
