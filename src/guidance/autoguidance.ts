// Autoguidance (Karras et al. 2024, "Guiding a Diffusion Model with a Bad Version of Itself"; NVlabs/edm2
// generate_images.py: ref.lerp(Dx, w)): guided = D_w + w·(D_c − D_w) = D_c + (w − 1)·(D_c − D_w), where the weak
// model D_w gets the SAME condition as D_c (not the null label: shared/research/guidance.md §3.3 on diffusers'
// AutoGuidance). The weak model is either a perturbation of this model (blocks scaled by α < 1, skipped, or with
// their self-attention output replaced by V — src/guidance/weak.ts, block ranges as fractions of depth) or a
// separately loaded weaker checkpoint (the paper's setting: a smaller, shorter-trained network). With cfgScale g the
// CFG term is added: guided = D_c + (g − 1)·(D_c − D_u) + (w − 1)·(D_c − D_w), i.e. D_u + g(D_c − D_u) + (w − 1)(D_c − D_w)
// (g = 1: pure autoguidance; w = 1: plain CFG). With refreshEvery k the weak term D_c − D_w is computed only every
// k-th step and the last one reused in between (it changes slowly between steps; shared/research/guidance.md §6.2):
// the weak branch runs on 1/k of the steps, the combination then is the non-linear path (the term is kept in the
// generation's memory). With weakSigmaLo the weak term is added only at steps whose σ > weakSigmaLo (the high-noise
// part of the run: on the glyph DiT that is where it helps, docs/guidance.md "Round 4"; plain CFG below). With
// weakUncond the unconditional prediction is autoguided too: CFG between the autoguided predictions
// D_c' = D_c + (w − 1)(D_c − D_wc) and D_u' = D_u + (w − 1)(D_u − D_wu), the weak model given the null label for D_wu
// (the same condition as its strong counterpart, as above):
//   guided = D_u' + g(D_c' − D_u') = D_u + g(D_c − D_u) + (w − 1)·[g(D_c − D_wc) − (g − 1)(D_u − D_wu)].
// The weak network may also be derived from the model itself (weakRank: its low-rank copy,
// src/guidance/lowRank.ts; the pipeline builds it). Autoguidance.recommended() is the shipped default
// (`--guidance auto`): the best method the tuning found (RECOMMENDED_GUIDANCE below), with no parameter tied to one
// model's depth, width or block indices.
import { rangeError, typeError } from "../errors.js";
import type { Model } from "../model.js";
import type { PolicySpec } from "../policySpec.js";
import { Tensor } from "../tensor.js";
import { COND, derivedBranch, memoByDepth, modelBranch, PerturbedBranch, UNCOND } from "./branches.js";
import { inWindow } from "./interval.js";
import type { CombineContext, GuidanceBranch, GuidanceCombination, GuidanceStep, Guider, NonlinearCombination, TensorCombineContext } from "./guider.js";
import { linearGuidance, type LinearGuidance } from "./terms.js";
import { checkRankFraction } from "./lowRank.js";
import { checkPerturbation, type Perturbation } from "./weak.js";

export interface AutoguidanceOptions {
  /** The weak branch as perturbations of this model (same condition as the conditional branch) … */
  weak?: Perturbation | readonly Perturbation[];
  /** … or a separately loaded weaker model with the same input / output shapes … */
  weakModel?: Model;
  /** … or the low-rank copy of the pipeline's own model (src/guidance/lowRank.ts): the rank fraction in (0, 1) kept
   * of every block's attention and MLP weights; the pipeline derives it once and keeps it until it is disposed. */
  weakRank?: number;
  /** Karras's w: guided = D_w + w·(D_c − D_w) (1 = no weak term). */
  scale: number;
  /** CFG scale g of an added CFG term (default 1: none). */
  cfgScale?: number;
  /** Compute the weak term every k-th step and reuse it in between (default 1: every step). */
  refreshEvery?: number;
  /** The weak term only at steps whose σ > weakSigmaLo (default 0: every step); plain CFG below it. */
  weakSigmaLo?: number;
  /** Autoguide the unconditional prediction too (CFG between the autoguided predictions; needs cfgScale ≠ 1). */
  weakUncond?: boolean;
}

/**
 * The shipped default (`--guidance auto`), chosen on tuning seeds (docs/guidance.md, "Round 4"): autoguidance with the
 * model's own low-rank copy as the weak network (src/guidance/lowRank.ts: every block's attention and MLP weights
 * truncated to 60 % of their rank) at Karras's w = 1.25 on BOTH predictions of CFG at the model's recommended scale g:
 *   D_u' + g(D_c' − D_u'),  D_c' = D_c + 0.25·(D_c − D_wc),  D_u' = D_u + 0.25·(D_u − D_wu),
 * only in the noisier half of the run (σ > 0.5; plain CFG below, where the weak term did not help), the weak term
 * refreshed every second step: 1.26 × CFG's evaluations at 50 steps.
 * Every parameter is scale-free (a rank fraction, a weight, a noise level, a period, the model's own CFG scale):
 * nothing names a block or depends on this model's depth or width, so it applies unchanged to a DiT it was not
 * tuned on.
 */
export const RECOMMENDED_GUIDANCE = Object.freeze({ weakRank: 0.6, scale: 1.25, weakUncond: true, weakSigmaLo: 0.5, refreshEvery: 2 });
/** The CFG scale of `auto` when neither the caller nor the model says one (the pipeline's fallback). */
const FALLBACK_CFG_SCALE = 4;

export class Autoguidance implements Guider {
  readonly kind = "autoguidance";
  readonly scale: number;
  readonly cfgScale: number;
  readonly weak: readonly Perturbation[] | undefined;
  readonly weakModel: Model | undefined;
  readonly weakRank: number | undefined;
  readonly refreshEvery: number;
  readonly weakSigmaLo: number;
  readonly weakUncond: boolean;
  readonly #weakBranch: PerturbedBranch | GuidanceBranch;
  readonly #weakUncondBranch: PerturbedBranch | GuidanceBranch;

  constructor(options: AutoguidanceOptions) {
    if (options === null || typeof options !== "object") throw typeError("object { weak | weakModel, scale, cfgScale? }", "options", options);
    const { weak, weakModel, weakRank, scale, cfgScale = 1, refreshEvery = 1, weakSigmaLo = 0, weakUncond = false } = options;
    if (!Number.isSafeInteger(refreshEvery) || refreshEvery < 1) throw rangeError("positive integer", "autoguidance.refreshEvery", refreshEvery);
    this.refreshEvery = refreshEvery;
    if (typeof weakSigmaLo !== "number" || !(weakSigmaLo >= 0 && weakSigmaLo < 1)) throw rangeError("number in [0, 1)", "autoguidance.weakSigmaLo", weakSigmaLo);
    this.weakSigmaLo = weakSigmaLo;
    if (typeof weakUncond !== "boolean") throw typeError("boolean", "autoguidance.weakUncond", weakUncond);
    this.weakUncond = weakUncond;
    if (typeof scale !== "number" || !Number.isFinite(scale)) throw typeError("finite number", "autoguidance.scale", scale);
    if (typeof cfgScale !== "number" || !Number.isFinite(cfgScale)) throw typeError("finite number", "autoguidance.cfgScale", cfgScale);
    if ([weak, weakModel, weakRank].filter((w) => w !== undefined).length !== 1) {
      throw typeError("exactly one of weak (perturbations), weakModel and weakRank", "autoguidance.weak", weak);
    }
    if (weakUncond && cfgScale === 1) throw new RangeError("Expected a cfgScale other than 1 with autoguidance.weakUncond (without a CFG term there is no unconditional prediction to autoguide)");
    this.scale = scale;
    this.cfgScale = cfgScale;
    this.weakRank = undefined;
    if (weakRank !== undefined) {
      this.weak = undefined;
      this.weakModel = undefined;
      this.weakRank = checkRankFraction(weakRank, "autoguidance.weakRank");
      this.#weakBranch = derivedBranch("weak", { kind: "lowRank", rankFraction: this.weakRank });
      this.#weakUncondBranch = derivedBranch("weak", { kind: "lowRank", rankFraction: this.weakRank }, "null");
    } else if (weakModel !== undefined) {
      if (weakModel === null || typeof weakModel !== "object" || typeof (weakModel as Model).session !== "function") throw typeError("Model", "autoguidance.weakModel", weakModel);
      this.weak = undefined;
      this.weakModel = weakModel;
      this.#weakBranch = modelBranch("weak", weakModel);
      this.#weakUncondBranch = modelBranch("weak", weakModel, "null");
    } else {
      const list = Array.isArray(weak) ? weak : [weak as Perturbation];
      this.weak = Object.freeze(list.map((p, i) => checkPerturbation(p, `autoguidance.weak[${i}]`)));
      this.weakModel = undefined;
      this.#weakBranch = new PerturbedBranch("weak", this.weak);
      this.#weakUncondBranch = new PerturbedBranch("weak", this.weak, "null");
    }
    Object.freeze(this);
  }

  /** Weak branch = the conditional model with `layers` skipped (the common layer-skip autoguidance). */
  static skipLayers(options: { layers: readonly number[]; scale: number; cfgScale?: number }): Autoguidance {
    if (options === null || typeof options !== "object") throw typeError("object { layers, scale, cfgScale? }", "options", options);
    return new Autoguidance({ weak: { kind: "skip", layers: options.layers }, scale: options.scale, cfgScale: options.cfgScale });
  }

  /**
   * The shipped default (`--guidance auto`): see RECOMMENDED_GUIDANCE and docs/guidance.md. `cfgScale` is the CFG
   * scale of its CFG term: the caller's (`--cfg`, generate's guidanceScale), else the model's recommended one.
   */
  static recommended(options: { cfgScale?: number } = {}): Autoguidance {
    return new Autoguidance({ ...RECOMMENDED_GUIDANCE, cfgScale: options.cfgScale ?? FALLBACK_CFG_SCALE });
  }

  /** The full method (weak branches last: the weak conditional, then the weak unconditional) and the number of weak
   * branches; and plain CFG (or the conditional model alone when g = 1) for the steps without the weak term. */
  readonly #resolve = memoByDepth((depth): { full: LinearGuidance; weakCount: number; plain: LinearGuidance } => {
    const at = (b: PerturbedBranch | GuidanceBranch) => (b instanceof PerturbedBranch ? b.at(depth) : b);
    const weak = at(this.#weakBranch), g = this.cfgScale, s = this.scale - 1;
    if (g === 1) return { full: linearGuidance(weak, [{ plus: COND, minus: weak, scale: this.scale }]), weakCount: 1, plain: linearGuidance(COND, []) };
    const cfg = { plus: COND, minus: UNCOND, scale: g };
    const terms = this.weakUncond
      ? [cfg, { plus: COND, minus: weak, scale: s * g }, { plus: UNCOND, minus: at(this.#weakUncondBranch), scale: -s * (g - 1) }]
      : [cfg, { plus: COND, minus: weak, scale: s }];
    const full = linearGuidance(UNCOND, terms);
    return { full, weakCount: full.branches.length - 2, plain: linearGuidance(UNCOND, [cfg]) };
  });

  /** Whether the weak term is added at this step (σ above weakSigmaLo; never when w = 1: there is no term). */
  #weakStep(step: GuidanceStep): boolean {
    return this.scale !== 1 && (this.weakSigmaLo === 0 || inWindow({ sigmaLo: this.weakSigmaLo, sigmaHi: 1 }, step));
  }

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    const { full, weakCount, plain } = this.#resolve(step.depth);
    if (!this.#weakStep(step)) return plain.branches;
    // Between refreshes the weak branches (always the last ones declared) are not run.
    return this.refreshEvery === 1 || step.index % this.refreshEvery === 0 ? full.branches : full.branches.slice(0, -weakCount);
  }

  combination(step: GuidanceStep): GuidanceCombination | NonlinearCombination {
    const { full, weakCount, plain } = this.#resolve(step.depth);
    if (!this.#weakStep(step)) return plain.combination;
    if (this.refreshEvery === 1) return full.combination;
    const refresh = step.index % this.refreshEvery === 0;
    return {
      nonlinear: true,
      combine: (outputs, ctx) => this.#reuseCombine(outputs, ctx, refresh, weakCount),
      combineTensors: (outputs, ctx) => this.#reuseCombineTensors(outputs, ctx, refresh, weakCount),
    };
  }

  /**
   * guided = base + the CFG term + (w − 1)·T, with T the weak term computed now (refresh) or kept from the last
   * refresh: T = D_c − D_wc, or with weakUncond g(D_c − D_wc) − (g − 1)(D_u − D_wu). A step that should reuse a term
   * before any was computed (a window that opens between refreshes, e.g. an outer guidance interval) adds none.
   */
  #reuseCombine(outputs: readonly Float32Array[], { memory }: CombineContext, refresh: boolean, weakCount: number): Float32Array {
    // Plain loops: Float32Array.from with a map callback costs ~10× more per element in V8, and this runs on the JS
    // thread at every step of the window.
    const cond = outputs[0]!, g = this.cfgScale, s = this.scale - 1, n = cond.length;
    const uncond = g === 1 ? undefined : outputs[1]!;
    if (refresh) {
      const weak = outputs[outputs.length - weakCount]!, t = new Float32Array(n);
      if (weakCount === 2) {
        const weakU = outputs[outputs.length - 1]!;
        for (let i = 0; i < n; i++) t[i] = g * (cond[i]! - weak[i]!) - (g - 1) * (uncond![i]! - weakU[i]!);
      } else for (let i = 0; i < n; i++) t[i] = cond[i]! - weak[i]!;
      memory.weakTerm = t;
    }
    // One float64 expression per element, rounded once (no term yet: + 0).
    const term = memory.weakTerm as Float32Array | undefined;
    const out = new Float32Array(n);
    if (uncond === undefined) for (let i = 0; i < n; i++) out[i] = cond[i]! + (term ? s * term[i]! : 0);
    else for (let i = 0; i < n; i++) out[i] = uncond[i]! + g * (cond[i]! - uncond[i]!) + (term ? s * term[i]! : 0);
    return out;
  }

  /**
   * #reuseCombine in Tensor arithmetic, where the outputs live (on a GPU the latents then never leave the device):
   * the term is a Tensor in the generation's memory (disposed at its end); float32 element-wise terms instead of
   * float64 (test/native/autoguidance-tensors.test.ts bounds the difference).
   */
  #reuseCombineTensors(outputs: readonly Tensor[], { memory }: TensorCombineContext, refresh: boolean, weakCount: number): Tensor {
    const cond = outputs[0]!, g = this.cfgScale, s = this.scale - 1;
    const uncond = g === 1 ? undefined : outputs[1]!;
    if (refresh) {
      const weak = outputs[outputs.length - weakCount]!;
      const term = weakCount === 2
        ? Tensor.combine([[g, cond], [-g, weak], [-(g - 1), uncond!], [g - 1, outputs[outputs.length - 1]!]])
        : Tensor.combine([[1, cond], [-1, weak]]);
      (memory.weakTermTensor as Tensor | undefined)?.dispose();
      memory.weakTermTensor = term;
    }
    const term = memory.weakTermTensor as Tensor | undefined;
    const terms: [number, Tensor][] = uncond ? [[1 - g, uncond], [g, cond]] : [[1, cond]];
    if (term) terms.push([s, term]);
    return Tensor.combine(terms);
  }

  withCfgScale(cfgScale: number): Autoguidance {
    const weak = this.weakModel ? { weakModel: this.weakModel } : this.weakRank !== undefined ? { weakRank: this.weakRank } : { weak: this.weak! };
    return new Autoguidance({ ...weak, scale: this.scale, cfgScale, refreshEvery: this.refreshEvery, weakSigmaLo: this.weakSigmaLo, weakUncond: this.weakUncond });
  }

  toJSON(): PolicySpec {
    const every: Record<string, number> = {
      ...(this.refreshEvery !== 1 ? { refreshEvery: this.refreshEvery } : {}),
      ...(this.weakSigmaLo !== 0 ? { weakSigmaLo: this.weakSigmaLo } : {}),
      ...(this.weakUncond ? { weakUncond: 1 } : {}),
    };
    if (this.weakRank !== undefined) return { kind: "autoguidance", weakRank: this.weakRank, scale: this.scale, cfgScale: this.cfgScale, ...every };
    if (!this.weak) throw new RangeError("Autoguidance with a weakModel has no SPEC form (a loaded model is not serialisable): keep the object");
    if (this.weak.length !== 1) throw new RangeError("Autoguidance with several weak perturbations has no SPEC form: keep the object");
    return {
      kind: "autoguidance", ...perturbationSpec(this.weak[0]!), scale: this.scale, cfgScale: this.cfgScale, ...every,
    };
  }
}

/** One perturbation as SPEC keys: alpha (scale; 0 = skip) or attention=1, and from / to or layers. */
export function perturbationSpec(p: Perturbation): Record<string, number | number[]> {
  const how: Record<string, number> = p.kind === "perturbAttention" ? { attention: 1 } : { alpha: p.kind === "skip" ? 0 : p.alpha! };
  return { ...how, ...(p.layers ? { layers: [...p.layers] } : { from: p.from!, to: p.to! }) };
}

/** The inverse of perturbationSpec (defaults: alpha 0 = skip over the whole depth). */
export function perturbationFromSpec(spec: PolicySpec): Perturbation {
  const { alpha, attention, from, to, layers } = spec as { alpha?: number; attention?: number; from?: number; to?: number; layers?: number[] };
  if (attention !== undefined && attention !== 0 && attention !== 1) throw new RangeError(`Expected 0 or 1 for guidance policy ${spec.kind}.attention but received ${attention}`);
  if (attention === 1 && alpha !== undefined) throw new RangeError(`Expected either alpha or attention=1 for guidance policy ${spec.kind}, not both`);
  const where = layers !== undefined ? { layers } : { from: from ?? 0, to: to ?? 1 };
  if (attention === 1) return checkPerturbation({ kind: "perturbAttention", ...where }, `guidance policy ${spec.kind}`);
  const a = alpha ?? 0;
  return checkPerturbation(a === 0 ? { kind: "skip", ...where } : { kind: "scale", alpha: a, ...where }, `guidance policy ${spec.kind}`);
}
