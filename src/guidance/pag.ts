// Perturbed-Attention Guidance (Ahn et al. 2024, arXiv 2403.17377) and STG-A (Hyung et al. 2025): the weak branch is
// the conditional model with the self-attention output of the chosen blocks replaced by V (an identity attention
// map; every token here is an image token, so no text-token caveat applies: shared/research/guidance.md errata 4, 8),
// guided = D_u + g(D_c − D_u) + s(D_c − D_pag). g = 1 is PAG's own unguided form D_c + s(D_c − D_pag)
// (= ε_pag + (s + 1)(ε_c − ε_pag), the official code's s = 4 being diffusers' additive s = 3).
import { typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { COND, memoByDepth, PerturbedBranch, UNCOND } from "./branches.js";
import type { GuidanceBranch, GuidanceCombination, GuidanceStep, Guider } from "./guider.js";
import { linearGuidance, type LinearGuidance } from "./terms.js";
import { checkPerturbation } from "./weak.js";

export interface PerturbedAttentionOptions {
  /** Block indices whose self-attention becomes the identity map (diffusers' DiT default: block 1). */
  layers?: readonly number[];
  /** s (diffusers pag_scale 3). */
  scale?: number;
  /** g, the CFG scale (default 4, as SLG's SD3.5 configuration). */
  cfgScale?: number;
}

export class PerturbedAttentionGuidance implements Guider {
  readonly kind = "pag";
  readonly layers: readonly number[];
  readonly scale: number;
  readonly cfgScale: number;
  readonly #pag: PerturbedBranch;

  constructor(options: PerturbedAttentionOptions = {}) {
    if (options === null || typeof options !== "object") throw typeError("object { layers?, scale?, cfgScale? }", "options", options);
    const { layers = [1], scale = 3, cfgScale = 4 } = options;
    for (const [k, v] of [["scale", scale], ["cfgScale", cfgScale]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("finite number", `pag.${k}`, v);
    }
    const p = checkPerturbation({ kind: "perturbAttention", layers }, "pag");
    this.layers = p.layers!;
    this.scale = scale;
    this.cfgScale = cfgScale;
    this.#pag = new PerturbedBranch("pag", [p]);
    Object.freeze(this);
  }

  readonly #resolve = memoByDepth((depth): LinearGuidance => {
    const terms = [{ plus: COND, minus: this.#pag.at(depth), scale: this.scale }];
    return this.cfgScale === 1 ? linearGuidance(COND, terms) : linearGuidance(UNCOND, [{ plus: COND, minus: UNCOND, scale: this.cfgScale }, ...terms]);
  });

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return this.#resolve(step.depth).branches;
  }

  combination(step: GuidanceStep): GuidanceCombination {
    return this.#resolve(step.depth).combination;
  }

  withCfgScale(cfgScale: number): PerturbedAttentionGuidance {
    return new PerturbedAttentionGuidance({ layers: this.layers, scale: this.scale, cfgScale });
  }

  toJSON(): PolicySpec {
    return { kind: "pag", layers: [...this.layers], scale: this.scale, cfgScale: this.cfgScale };
  }
}
