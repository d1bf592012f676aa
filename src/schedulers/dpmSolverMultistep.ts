// DPM-Solver++ 2M (Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
// Models", Alg. 2, midpoint form) as diffusers' DPMSolverMultistepScheduler(algorithm_type="dpmsolver++",
// solver_order=2, solver_type="midpoint", lower_order_final=True, final_sigmas_type="zero"), ε-prediction.
// α = 1/√(σ²+1), σ_t = σ·α, λ = ln α − ln σ_t, x₀ = (x − σ_t·ε)/α, h = λ_next − λ_cur;
// 1st order: x' = (σ_t,next/σ_t,cur)·x − α_next(e^{−h} − 1)·m0;
// 2nd order: D1 = (m0 − m1)/r0, r0 = h_prev/h, x' = … − α_next(e^{−h}−1)·m0 − ½α_next(e^{−h}−1)·D1.
// The first step, and with final σ = 0 the last step, are first order. Scalars in float32 as torch computes them.
import { Tensor } from "../tensor.js";
import { BaseScheduler, booleanOption, camelCaseKeys, numberOption, stringOption } from "./base.js";
import { multistepTimesteps, betaGridOptions, type BetaGridConfig } from "./betaGrid.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, interpOnIndexGrid, sigmaFromAlphaCumprod, trainingAlphasCumprod } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface DpmSolverMultistepConfig extends Partial<BetaGridConfig> {
  solverOrder?: 1 | 2;
  lowerOrderFinal?: boolean;
  finalSigmasType?: "zero" | "sigma_min";
  predictionType?: "epsilon";
}

/** (α_t, σ_t, λ) of a VP noise level σ in float32; λ = +∞ at σ = 0. */
export function vpAlphaSigmaLambda(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  return { alpha, sigmaT, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT))) };
}

export class DpmSolverMultistepScheduler extends BaseScheduler {
  readonly name = "dpm++2m" as const;
  readonly timestepKind = "discrete" as const;
  readonly config: Required<DpmSolverMultistepConfig>;
  readonly alphasCumprod: Float32Array;
  readonly trainingSigmas: Float32Array;
  /** Data predictions (x₀) of the previous and current step: the multistep history. */
  #history: Tensor[] = [];
  #lowerOrderNums = 0;

  constructor(config: DpmSolverMultistepConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    this.config = {
      ...betaGridOptions(c, {
        numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: "scaled_linear", timestepSpacing: "linspace", stepsOffset: 0,
      }),
      solverOrder: numberOption(c, "solverOrder", 2) as 1 | 2,
      lowerOrderFinal: booleanOption(c, "lowerOrderFinal", true),
      finalSigmasType: stringOption(c, "finalSigmasType", ["zero", "sigma_min"], "zero"),
      predictionType: stringOption(c, "predictionType", ["epsilon"], "epsilon"),
    };
    if (this.config.solverOrder !== 1 && this.config.solverOrder !== 2) {
      throw new RangeError(`Expected 1 or 2 for solverOrder but received ${this.config.solverOrder}`);
    }
    const algorithm = c.algorithmType ?? "dpmsolver++";
    const solverType = c.solverType ?? "midpoint";
    if (algorithm !== "dpmsolver++") throw new TypeError(`Expected "dpmsolver++" for algorithmType but received ${JSON.stringify(algorithm)}`);
    if (solverType !== "midpoint") throw new TypeError(`Expected "midpoint" for solverType but received ${JSON.stringify(solverType)}`);
    this.alphasCumprod = trainingAlphasCumprod(this.config);
    this.trainingSigmas = this.alphasCumprod.map(sigmaFromAlphaCumprod);
  }

  /** n + 1 noise levels of the last timesteps() call (last 0); empty before. */
  override get sigmas(): Float32Array {
    return this.sigmaGrid ?? new Float32Array(0);
  }

  get initNoiseSigma(): number {
    return 1;
  }

  protected buildGrid(n: number, _options: TimestepsOptions): number[] {
    const c = this.config;
    const timesteps = multistepTimesteps(c.timestepSpacing, n, c.numTrainTimesteps, c.stepsOffset);
    const sigmas = new Float32Array(n + 1);
    timesteps.forEach((t, i) => (sigmas[i] = interpOnIndexGrid(t, this.trainingSigmas)));
    sigmas[n] = c.finalSigmasType === "zero" ? 0 : this.trainingSigmas[0]!;
    this.sigmaGrid = sigmas;
    return timesteps;
  }

  protected override resetState(): void {
    for (const t of this.#history) t.dispose();
    this.#history = [];
    this.#lowerOrderNums = 0;
  }

  /** The float32 scalars of grid step `index` and its order (read-only: the same decisions step() takes). */
  private scalarsAt(index: number): { cur: { alpha: number; sigmaT: number }; ratio: number; coefficient: number; r0: number | null } {
    const sigmas = this.sigmaGrid!;
    const n = this.grid.length;
    const lowerOrderFinal = index === n - 1 && ((this.config.lowerOrderFinal && n < 15) || this.config.finalSigmasType === "zero");
    const cur = vpAlphaSigmaLambda(sigmas[index]!);
    const next = vpAlphaSigmaLambda(sigmas[index + 1]!);
    const h = f32(next.lambda - cur.lambda);
    const ratio = f32(next.sigmaT / cur.sigmaT);
    const coefficient = f32(next.alpha * f32(f32(Math.exp(-h)) - 1));
    if (this.config.solverOrder === 1 || this.#lowerOrderNums < 1 || lowerOrderFinal) return { cur, ratio, coefficient, r0: null };
    const prev = vpAlphaSigmaLambda(sigmas[index - 1]!);
    const hPrev = f32(cur.lambda - prev.lambda);
    return { cur, ratio, coefficient, r0: f32(hPrev / h) };
  }

  override get state(): readonly Tensor[] {
    return this.#history;
  }

  protected stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput {
    const { cur, ratio, coefficient, r0 } = this.scalarsAt(index);
    // Data prediction x₀ = (x − σ_t·ε)/α.
    const numerator = Tensor.combine([
      [1, sample],
      [-cur.sigmaT, modelOutput],
    ]);
    const x0 = numerator.scale(1 / cur.alpha);
    numerator.dispose();
    this.#history.push(x0);
    while (this.#history.length > this.config.solverOrder) this.#history.shift()!.dispose();

    let prevSample: Tensor;
    if (r0 === null) {
      prevSample = Tensor.combine([
        [ratio, sample],
        [-coefficient, x0],
      ]);
    } else {
      const m1 = this.#history[this.#history.length - 2]!;
      const difference = x0.sub(m1);
      const d1 = difference.scale(f32(1 / r0));
      difference.dispose();
      prevSample = Tensor.combine([
        [ratio, sample],
        [-coefficient, x0],
        [-f32(0.5 * coefficient), d1],
      ]);
      d1.dispose();
    }
    if (this.#lowerOrderNums < this.config.solverOrder) this.#lowerOrderNums++;
    return { prevSample, predOriginalSample: x0.clone() };
  }

  /** stepAt's operations on linear forms over (x, ε, history); the new history gains this step's x₀. */
  protected termsAt(index: number): LinearStep {
    const { cur, ratio, coefficient, r0 } = this.scalarsAt(index);
    const { sample, modelOutput, state } = LinearForm.inputs(this.#history.length);
    const x0 = LinearForm.combine([[1, sample], [-cur.sigmaT, modelOutput]]).scale(1 / cur.alpha);
    const history = [...state, x0].slice(-this.config.solverOrder);
    let next: LinearForm;
    if (r0 === null) next = LinearForm.combine([[ratio, sample], [-coefficient, x0]]);
    else {
      const d1 = x0.sub(history[history.length - 2]!).scale(f32(1 / r0));
      next = LinearForm.combine([[ratio, sample], [-coefficient, x0], [-f32(0.5 * coefficient), d1]]);
    }
    return linearStep(next, history);
  }

  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const { alpha, sigmaT } = vpAlphaSigmaLambda(this.sigmaGrid![this.gridIndexOf(t)]!);
    return Tensor.combine([
      [alpha, original],
      [sigmaT, noise],
    ]);
  }
}
