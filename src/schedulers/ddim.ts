// DDIM (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12 with η = 0) as diffusers' DDIMScheduler:
// ε-prediction, x₀ = (x − √(1−ᾱ_t)·ε)/√ᾱ_t, x' = √ᾱ_prev·x₀ + √(1−ᾱ_prev)·ε, prev timestep = t − N_train//n
// (ᾱ_prev = final_alpha_cumprod — 1 with set_alpha_to_one — below 0). Spacing leading (+ steps_offset), trailing
// (round half to even) or linspace. All coefficients in float32 as the reference computes them.
import { Tensor } from "../tensor.js";
import { BaseScheduler, booleanOption, camelCaseKeys, stringOption } from "./base.js";
import { spacedTimesteps, betaGridOptions, type BetaGridConfig } from "./betaGrid.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, roundHalfEven, trainingAlphasCumprod } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface DdimConfig extends Partial<BetaGridConfig> {
  setAlphaToOne?: boolean;
  predictionType?: "epsilon";
  /** Only η = 0 (deterministic DDIM) is supported. */
  eta?: 0;
}

export class DdimScheduler extends BaseScheduler {
  readonly name = "ddim" as const;
  readonly timestepKind = "discrete" as const;
  readonly config: Required<DdimConfig>;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  #stepRatio = 1;

  constructor(config: DdimConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    this.config = {
      ...betaGridOptions(c, {
        numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: "linear", timestepSpacing: "leading", stepsOffset: 0,
      }),
      setAlphaToOne: booleanOption(c, "setAlphaToOne", true),
      predictionType: stringOption(c, "predictionType", ["epsilon"], "epsilon"),
      eta: 0,
    };
    if (c.eta !== undefined && c.eta !== 0) throw new RangeError(`Expected 0 for eta (deterministic DDIM) but received ${JSON.stringify(c.eta)}`);
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.finalAlphaCumprod = this.config.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  protected buildGrid(n: number, _options: TimestepsOptions): number[] {
    const c = this.config;
    if (n > c.numTrainTimesteps) throw new RangeError(`Expected at most ${c.numTrainTimesteps} for numInferenceSteps but received ${n}`);
    this.#stepRatio = Math.floor(c.numTrainTimesteps / n);
    this.sigmaGrid = null;
    const offset = c.timestepSpacing === "leading" ? c.stepsOffset : 0;
    // linspace yields fractional steps that diffusers rounds (half to even); leading/trailing are integers already.
    return spacedTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, offset).map((t) => Math.trunc(roundHalfEven(t)));
  }

  private alphaAt(t: number): number {
    return t >= 0 ? this.alphasCumprod[t]! : this.finalAlphaCumprod;
  }

  /** ᾱ_t and ᾱ_prev of grid step `index`. */
  private alphasAt(index: number): { alphaProd: number; alphaProdPrev: number } {
    const t = this.grid[index]!;
    return { alphaProd: this.alphaAt(t), alphaProdPrev: this.alphaAt(t - this.#stepRatio) };
  }

  /** stepAt's operations on linear forms. */
  protected termsAt(index: number): LinearStep {
    const { alphaProd, alphaProdPrev } = this.alphasAt(index);
    const betaProd = f32(1 - alphaProd);
    const { sample, modelOutput } = LinearForm.inputs(0);
    const predOriginalSample = LinearForm.combine([[1, sample], [-f32(Math.sqrt(betaProd)), modelOutput]]).scale(1 / f32(Math.sqrt(alphaProd)));
    return linearStep(LinearForm.combine([
      [f32(Math.sqrt(alphaProdPrev)), predOriginalSample],
      [f32(Math.sqrt(f32(1 - alphaProdPrev))), modelOutput],
    ]), []);
  }

  protected stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput {
    const { alphaProd, alphaProdPrev } = this.alphasAt(index);
    const betaProd = f32(1 - alphaProd);
    // x₀ = (x − √β·ε) / √ᾱ : the division as a multiply by the float32 reciprocal (≤ 1 ulp from the reference).
    const numerator = Tensor.combine([
      [1, sample],
      [-f32(Math.sqrt(betaProd)), modelOutput],
    ]);
    const predOriginalSample = numerator.scale(1 / f32(Math.sqrt(alphaProd)));
    numerator.dispose();
    const prevSample = Tensor.combine([
      [f32(Math.sqrt(alphaProdPrev)), predOriginalSample],
      [f32(Math.sqrt(f32(1 - alphaProdPrev))), modelOutput],
    ]);
    return { prevSample, predOriginalSample };
  }

  /** q(x_t | x₀): √ᾱ_t·x₀ + √(1−ᾱ_t)·noise (diffusers add_noise). */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const a = this.alphaAt(t);
    return Tensor.combine([
      [f32(Math.sqrt(a)), original],
      [f32(Math.sqrt(f32(1 - a))), noise],
    ]);
  }
}
