// Adaptive Projected Guidance (Sadat et al. 2025, "Eliminating Oversaturation and Artifacts of High Guidance Scales
// in Diffusion Models", arXiv 2410.02416, Algorithm 1), in the PAPER's formulation on x0 (denoised) predictions
// (shared/research/guidance.md errata 1: diffusers' default is a different formula):
//   Δ = x0_c − x0_u;  Δ̄ ← Δ + β·Δ̄ (momentum, β < 0);  Δ̄ ← Δ̄·min(1, r/‖Δ̄‖);
//   Δ∥ = (⟨Δ̄, x0_c⟩/‖x0_c‖²)·x0_c,  Δ⊥ = Δ̄ − Δ∥;  x0 = x0_c + (w − 1)(Δ⊥ + η·Δ∥),
// per sample (norms and projections over C·H·W), in float64. The flow model predicts v = ε − x0 and x_t =
// (1 − σ)x0 + σε, so x0 = x_t − σ·v and the guided velocity is v = (x_t − x0)/σ. The momentum buffer lives in the
// generation's memory (the Guider itself is immutable).
import { rangeError, typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { COND, UNCOND } from "./branches.js";
import { Tensor } from "../tensor.js";
import type { CombineContext, GuidanceBranch, GuidanceStep, Guider, NonlinearCombination, TensorCombineContext } from "./guider.js";

export interface ApgOptions {
  /** w, the guidance scale (as CFG's). */
  cfgScale: number;
  /** η, the weight of the parallel part (paper: 0). */
  eta?: number;
  /** β, the momentum (paper: −0.5; 0 = none). */
  momentum?: number;
  /** r, the norm threshold on Δ (0 = no clip; diffusers' paper-like default 10). */
  normThreshold?: number;
}

const BRANCHES: readonly GuidanceBranch[] = Object.freeze([COND, UNCOND]);

export class AdaptiveProjectedGuidance implements Guider {
  readonly kind = "apg";
  readonly cfgScale: number;
  readonly eta: number;
  readonly momentum: number;
  readonly normThreshold: number;
  readonly #combination: NonlinearCombination;

  constructor(options: ApgOptions) {
    if (options === null || typeof options !== "object") throw typeError("object { cfgScale, eta?, momentum?, normThreshold? }", "options", options);
    const { cfgScale, eta = 0, momentum = -0.5, normThreshold = 10 } = options;
    for (const [k, v] of [["cfgScale", cfgScale], ["eta", eta], ["momentum", momentum], ["normThreshold", normThreshold]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("finite number", `apg.${k}`, v);
    }
    if (normThreshold < 0) throw rangeError("non-negative number", "apg.normThreshold", normThreshold);
    this.cfgScale = cfgScale;
    this.eta = eta;
    this.momentum = momentum;
    this.normThreshold = normThreshold;
    this.#combination = Object.freeze({
      nonlinear: true as const,
      combine: (outputs: readonly Float32Array[], ctx: CombineContext) => this.#combine(outputs, ctx),
      combineTensors: (outputs: readonly Tensor[], ctx: TensorCombineContext) => this.#combineTensors(outputs, ctx),
    });
    Object.freeze(this);
  }

  branches(_step: GuidanceStep): readonly GuidanceBranch[] {
    return BRANCHES;
  }

  combination(_step: GuidanceStep): NonlinearCombination {
    return this.#combination;
  }

  #combine(outputs: readonly Float32Array[], { x, batch, step, memory }: CombineContext): Float32Array {
    const [vc, vu] = outputs as [Float32Array, Float32Array];
    const sigma = step.sigma, n = x.length / batch;
    const running = (memory.apgRunning as Float64Array | undefined) ?? new Float64Array(x.length);
    const first = memory.apgRunning === undefined;
    memory.apgRunning = running;
    const out = new Float32Array(x.length);
    const delta = new Float64Array(n), x0c = new Float64Array(n);
    for (let b = 0; b < batch; b++) {
      const o = b * n;
      let dd = 0;
      for (let i = 0; i < n; i++) {
        const xc = x[o + i]! - sigma * vc[o + i]!, xu = x[o + i]! - sigma * vu[o + i]!;
        x0c[i] = xc;
        // Algorithm 1's MomentumBuffer: running = Δ + β·running (the buffer starts at 0).
        const d = (xc - xu) + (first ? 0 : this.momentum * running[o + i]!);
        running[o + i] = d;
        delta[i] = d;
        dd += d * d;
      }
      const clip = this.normThreshold > 0 && dd > 0 ? Math.min(1, this.normThreshold / Math.sqrt(dd)) : 1;
      let dot = 0, cc = 0;
      for (let i = 0; i < n; i++) { delta[i]! *= clip; dot += delta[i]! * x0c[i]!; cc += x0c[i]! * x0c[i]!; }
      const proj = cc > 0 ? dot / cc : 0;
      for (let i = 0; i < n; i++) {
        const parallel = proj * x0c[i]!, orthogonal = delta[i]! - parallel;
        const x0 = x0c[i]! + (this.cfgScale - 1) * (orthogonal + this.eta * parallel);
        out[o + i] = (x[o + i]! - x0) / sigma;
      }
    }
    return out;
  }

  // The same algorithm in Tensor arithmetic where the outputs live (a GPU: the latents stay there). Per sample the
  // reductions ⟨Δ, x0_c⟩, ‖Δ‖, ‖x0_c‖ are one dotNorm (float64 sums; 3·B numbers to the host), and with them
  //   x0 = x0_c + (w − 1)(clip·Δ − p·x0_c + η·p·x0_c),  p = clip·⟨Δ, x0_c⟩/‖x0_c‖²,
  //   v  = (x − x0)/σ = x/σ − (1 − (w − 1)(1 − η)p)/σ · x0_c − (w − 1)·clip/σ · Δ,
  // one combine per sample. Element-wise terms are float32 here (float64 in #combine): test/native/apg-tensors.test.ts
  // bounds the difference. The momentum buffer is a Tensor in the generation's memory (disposed at its end).
  #combineTensors(outputs: readonly Tensor[], { x, batch, step, memory }: TensorCombineContext): Tensor {
    const [vc, vu] = outputs as [Tensor, Tensor];
    const sigma = step.sigma, w = this.cfgScale;
    const owned: Tensor[] = [];
    const keep = (t: Tensor) => { owned.push(t); return t; };
    try {
      const x0c = keep(Tensor.combine([[1, x], [-sigma, vc]]));
      const x0u = keep(Tensor.combine([[1, x], [-sigma, vu]]));
      const previous = memory.apgRunningTensor as Tensor | undefined;
      // Algorithm 1's MomentumBuffer: running = Δ + β·running (the buffer starts at 0).
      const delta = previous ? Tensor.combine([[1, x0c], [-1, x0u], [this.momentum, previous]]) : x0c.sub(x0u);
      previous?.dispose();
      memory.apgRunningTensor = delta;
      const { dot, norm, otherNorm } = delta.dotNorm(x0c);
      const samples: Tensor[] = [];
      for (let b = 0; b < batch; b++) {
        const dd = norm[b]! * norm[b]!, cc = otherNorm[b]! * otherNorm[b]!;
        const clip = this.normThreshold > 0 && dd > 0 ? Math.min(1, this.normThreshold / norm[b]!) : 1;
        const proj = cc > 0 ? (clip * dot[b]!) / cc : 0;
        const a = (1 - (w - 1) * (1 - this.eta) * proj) / sigma, c = ((w - 1) * clip) / sigma;
        const xs = keep(x.slice(b, b + 1)), cs = keep(x0c.slice(b, b + 1)), ds = keep(delta.slice(b, b + 1));
        samples.push(keep(Tensor.combine([[1 / sigma, xs], [-a, cs], [-c, ds]])));
      }
      return batch === 1 ? samples[0]!.clone() : Tensor.concat(samples);
    } finally {
      for (const t of owned) t.dispose();
    }
  }

  withCfgScale(cfgScale: number): AdaptiveProjectedGuidance {
    return new AdaptiveProjectedGuidance({ cfgScale, eta: this.eta, momentum: this.momentum, normThreshold: this.normThreshold });
  }

  toJSON(): PolicySpec {
    return { kind: "apg", cfgScale: this.cfgScale, eta: this.eta, momentum: this.momentum, normThreshold: this.normThreshold };
  }
}
