// Skip-Layer Guidance (Stability-AI/sd3.5 sd3_impls.py SkipLayerCFGDenoiser; diffusers SkipLayerGuidance) and
// STG-R (Hyung et al. 2025, "Spatiotemporal Skip Guidance", junhahyung/STGuidance): CFG plus a term away from the
// conditional model with whole blocks skipped, guided = D_u + g(D_c − D_u) + s(D_c − D_skip), the skip branch with
// the SAME (class) condition (shared/research/guidance.md errata 3: diffusers degenerates to CFG without the CFG term;
// here it does not). SLG runs the skip branch only for steps i with start·n < i < stop·n (Stability's strict window);
// outside it, plain CFG. STG-R is the same formula at every step. `layers` are block indices as the references give
// them; an index beyond the model's depth is an error, not silently dropped (diffusers ignores it).
import { typeError } from "../errors.js";
import type { PolicySpec } from "../policySpec.js";
import { COND, memoByDepth, PerturbedBranch, UNCOND } from "./branches.js";
import type { GuidanceBranch, GuidanceCombination, GuidanceStep, Guider } from "./guider.js";
import { checkWindowFraction } from "./stepWindow.js";
import { linearGuidance, type LinearGuidance } from "./terms.js";
import { checkPerturbation } from "./weak.js";

export interface SkipLayerOptions {
  layers: readonly number[];
  /** s, the weight of D_c − D_skip (SD3.5-Medium: 2.5; diffusers 2.8). */
  scale?: number;
  /** g, the CFG scale (SD3.5-Medium's SLG config: 4). */
  cfgScale?: number;
  /** Step window as fractions of the run (SLG only; SD3.5: 0.01 … 0.2). */
  start?: number;
  stop?: number;
}

export class SkipLayerGuidance implements Guider {
  readonly kind: "slg" | "stg";
  readonly layers: readonly number[];
  readonly scale: number;
  readonly cfgScale: number;
  readonly start: number;
  readonly stop: number;
  readonly #skip: PerturbedBranch;

  /** SLG: the skip term inside the step window [start, stop] (defaults 0.01 … 0.2, scale 2.8, CFG 4). */
  static slg(options: SkipLayerOptions): SkipLayerGuidance {
    return new SkipLayerGuidance("slg", { scale: 2.8, cfgScale: 4, start: 0.01, stop: 0.2, ...defined(options) } as Required<SkipLayerOptions>);
  }

  /** STG-R: the skip term at every step (default scale 1, CFG 4). */
  static stg(options: Omit<SkipLayerOptions, "start" | "stop">): SkipLayerGuidance {
    return new SkipLayerGuidance("stg", { scale: 1, cfgScale: 4, ...defined(options), start: 0, stop: 1 } as Required<SkipLayerOptions>);
  }

  private constructor(kind: "slg" | "stg", options: Required<SkipLayerOptions>) {
    if (options === null || typeof options !== "object") throw typeError("object { layers, scale?, cfgScale?, start?, stop? }", "options", options);
    const { layers, scale, cfgScale, start, stop } = options;
    for (const [k, v] of [["scale", scale], ["cfgScale", cfgScale]] as const) {
      if (typeof v !== "number" || !Number.isFinite(v)) throw typeError("finite number", `${kind}.${k}`, v);
    }
    checkWindowFraction(start, stop, kind);
    this.kind = kind;
    const p = checkPerturbation({ kind: "skip", layers }, `${kind}`);
    this.layers = p.layers!;
    this.scale = scale;
    this.cfgScale = cfgScale;
    this.start = start;
    this.stop = stop;
    this.#skip = new PerturbedBranch("skip", [p]);
    Object.freeze(this);
  }

  readonly #linear = memoByDepth((depth) => {
    const cfg = { plus: COND, minus: UNCOND, scale: this.cfgScale };
    return {
      on: linearGuidance(UNCOND, [cfg, { plus: COND, minus: this.#skip.at(depth), scale: this.scale }]),
      off: this.cfgScale === 1 ? linearGuidance(COND, []) : linearGuidance(UNCOND, [cfg]),
    };
  });

  #resolve(step: GuidanceStep): LinearGuidance {
    const r = this.#linear(step.depth);
    const i = step.index, n = step.total;
    const active = this.kind === "stg" || (i > this.start * n && i < this.stop * n);
    return active ? r.on : r.off;
  }

  branches(step: GuidanceStep): readonly GuidanceBranch[] {
    return this.#resolve(step).branches;
  }

  combination(step: GuidanceStep): GuidanceCombination {
    return this.#resolve(step).combination;
  }

  withCfgScale(cfgScale: number): SkipLayerGuidance {
    return new SkipLayerGuidance(this.kind, { layers: this.layers, scale: this.scale, cfgScale, start: this.start, stop: this.stop });
  }

  toJSON(): PolicySpec {
    const base = { kind: this.kind, layers: [...this.layers], scale: this.scale, cfgScale: this.cfgScale };
    return this.kind === "slg" ? { ...base, start: this.start, stop: this.stop } : base;
  }
}

/** The options without their undefined entries (so defaults apply). */
function defined<T extends object>(options: T): Partial<T> {
  if (options === null || typeof options !== "object") throw typeError("object { layers, scale?, cfgScale?, start?, stop? }", "options", options);
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
