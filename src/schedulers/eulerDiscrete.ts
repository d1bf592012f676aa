// Euler for ε-prediction (diffusers EulerDiscreteScheduler, Karras et al. 2022 "EDM" Alg. 2 with s_churn = 0,
// i.e. deterministic): σ(t) = √((1 − ᾱ_t)/ᾱ_t) on the training grid, linear interpolation at the inference
// timesteps, model input x/√(σ² + 1), step x₀ = x − σ·ε, d = (x − x₀)/σ, x' = x + d·(σ_next − σ).
// SDXL's config (scaled_linear 0.00085..0.012, leading spacing, steps_offset 1) is the golden setting.
import { Tensor } from "../tensor.js";
import { BaseScheduler, camelCaseKeys, stringOption } from "./base.js";
import { spacedTimesteps, betaGridOptions, type BetaGridConfig } from "./betaGrid.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, interpOnIndexGrid, sigmaFromAlphaCumprod, trainingAlphasCumprod } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface EulerDiscreteConfig extends Partial<BetaGridConfig> {
  predictionType?: "epsilon";
}

export class EulerDiscreteScheduler extends BaseScheduler {
  readonly name = "euler" as const;
  readonly timestepKind = "discrete" as const;
  readonly config: Required<EulerDiscreteConfig>;
  readonly alphasCumprod: Float32Array;
  /** σ(t) on the training grid, float32. */
  readonly trainingSigmas: Float32Array;
  #initNoiseSigma = 1;

  constructor(config: EulerDiscreteConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    this.config = {
      ...betaGridOptions(c, {
        numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear", timestepSpacing: "leading", stepsOffset: 1,
      }),
      predictionType: stringOption(c, "predictionType", ["epsilon"], "epsilon"),
    };
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.trainingSigmas = this.alphasCumprod.map(sigmaFromAlphaCumprod);
  }

  /** n + 1 noise levels of the last timesteps() call (last 0); empty before. */
  override get sigmas(): Float32Array {
    return this.sigmaGrid ?? new Float32Array(0);
  }

  get initNoiseSigma(): number {
    return this.#initNoiseSigma;
  }

  protected buildGrid(n: number, _options: TimestepsOptions): number[] {
    const c = this.config;
    const timesteps = spacedTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, c.timestepSpacing === "leading" ? c.stepsOffset : 0).map(f32);
    const sigmas = new Float32Array(n + 1);
    timesteps.forEach((t, i) => (sigmas[i] = interpOnIndexGrid(t, this.trainingSigmas)));
    sigmas[n] = 0;
    this.sigmaGrid = sigmas;
    let max = 0;
    for (const s of sigmas) max = Math.max(max, s);
    // diffusers: σ_max for linspace/trailing spacing, √(σ_max² + 1) otherwise (float32).
    this.#initNoiseSigma = c.timestepSpacing === "leading" ? f32(Math.sqrt(f32(f32(max * max) + 1))) : max;
    return timesteps;
  }

  /** x / √(σ² + 1) (float32 coefficient; a multiply by its reciprocal, within 1 ulp of the reference division). */
  override scaleModelInput(sample: Tensor, t: number): Tensor {
    const sigma = this.sigmaGrid![Math.min(this.resolveIndex(t), this.grid.length - 1)]!;
    const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return sample.scale(1 / denom);
  }

  protected stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput {
    const sigma = this.sigmaGrid![index]!;
    const dt = f32(this.sigmaGrid![index + 1]! - sigma);
    const predOriginalSample = Tensor.combine([
      [1, sample],
      [-sigma, modelOutput],
    ]);
    const difference = sample.sub(predOriginalSample);
    const derivative = difference.scale(1 / sigma);
    difference.dispose();
    const prevSample = Tensor.combine([
      [1, sample],
      [dt, derivative],
    ]);
    derivative.dispose();
    return { prevSample, predOriginalSample };
  }

  /** stepAt's operations on linear forms (x₀ = x − σ·ε, d = (x − x₀)/σ, x' = x + dt·d). */
  protected termsAt(index: number): LinearStep {
    const sigma = this.sigmaGrid![index]!;
    const dt = f32(this.sigmaGrid![index + 1]! - sigma);
    const { sample, modelOutput } = LinearForm.inputs(0);
    const predOriginalSample = LinearForm.combine([[1, sample], [-sigma, modelOutput]]);
    const derivative = sample.sub(predOriginalSample).scale(1 / sigma);
    return linearStep(LinearForm.combine([[1, sample], [dt, derivative]]), []);
  }

  /** x₀ + σ·noise at the grid's σ for t. */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const sigma = this.sigmaGrid![this.gridIndexOf(t)]!;
    return Tensor.combine([
      [1, original],
      [sigma, noise],
    ]);
  }
}
