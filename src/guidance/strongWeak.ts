// Strong/weak guidance, this project's variant of autoguidance (docs/guidance.md): both branches are versions of
// the conditional model — the STRONG one amplifies chosen blocks (scale α > 1: h + α(block(h) − h)), the WEAK one
// attenuates or skips others — and guidance extrapolates from weak to strong, guided = D_weak + w(D_strong − D_weak)
// (Karras et al. 2024's form with the full model replaced by an amplified one; shared/research/guidance.md §2.10
// found no published method that amplifies the strong branch). On top of CFG (cfgScale g ≠ 1):
// guided = D_u + g(D_c − D_u) + (w − 1)(D_strong − D_weak), which is plain CFG at w = 1.
import { typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { perturbationSpec } from "./autoguidance.js";
import { COND, memoByDepth, PerturbedBranch, UNCOND } from "./branches.js";
import type { GuidanceBranch, GuidanceCombination, GuidanceStep, Guider } from "./guider.js";
import { linearGuidance, type LinearGuidance } from "./terms.js";
import { checkPerturbation, type Perturbation } from "./weak.js";

export interface StrongWeakOptions {
  strong: Perturbation;
  weak: Perturbation;
  /** w. */
  scale: number;
  /** g (default 1: no CFG term, guided = D_weak + w(D_strong − D_weak)). */
  cfgScale?: number;
}

export class StrongWeakGuidance implements Guider {
  readonly kind = "strongWeak";
  readonly strong: Perturbation;
  readonly weak: Perturbation;
  readonly scale: number;
  readonly cfgScale: number;
  readonly #strong: PerturbedBranch;
  readonly #weak: PerturbedBranch;

  constructor(options: StrongWeakOptions) {
    if (options === null || typeof options !== "object") throw typeError("object { strong, weak, scale, cfgScale? }", "options", options);
    const { strong, weak, scale, cfgScale = 1 } = options;
    for (const [k, v] of [["scale", scale], ["cfgScale", cfgScale]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("finite number", `strongWeak.${k}`, v);
    }
    this.strong = checkPerturbation(strong, "strongWeak.strong");
    this.weak = checkPerturbation(weak, "strongWeak.weak");
    this.scale = scale;
    this.cfgScale = cfgScale;
    this.#strong = new PerturbedBranch("strong", [this.strong]);
    this.#weak = new PerturbedBranch("weak", [this.weak]);
    Object.freeze(this);
  }

  readonly #resolve = memoByDepth((depth): LinearGuidance => {
    const strong = this.#strong.at(depth), weak = this.#weak.at(depth);
    return this.cfgScale === 1
      ? linearGuidance(weak, [{ plus: strong, minus: weak, scale: this.scale }])
      : linearGuidance(UNCOND, [{ plus: COND, minus: UNCOND, scale: this.cfgScale }, { plus: strong, minus: weak, scale: this.scale - 1 }]);
  });

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return this.#resolve(step.depth).branches;
  }

  combination(step: GuidanceStep): GuidanceCombination {
    return this.#resolve(step.depth).combination;
  }

  withCfgScale(cfgScale: number): StrongWeakGuidance {
    return new StrongWeakGuidance({ strong: this.strong, weak: this.weak, scale: this.scale, cfgScale });
  }

  toJSON(): PolicySpec {
    const prefixed = (prefix: string, p: Perturbation) => Object.fromEntries(Object.entries(perturbationSpec(p)).map(([k, v]) => [prefix + k[0]!.toUpperCase() + k.slice(1), v]));
    return { kind: "strongWeak", ...prefixed("strong", this.strong), ...prefixed("weak", this.weak), scale: this.scale, cfgScale: this.cfgScale };
  }
}
