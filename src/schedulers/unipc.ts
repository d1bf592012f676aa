// UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
// Models", Alg. 1–2, B(h) = expm1(−h) i.e. "bh2", data prediction) as diffusers' UniPCMultistepScheduler with
// flow sigmas — the Wan2.1 configuration: prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift,
// solver_order=2, predict_x0=True, lower_order_final, final_sigmas_type="zero".
// Grid: σ = shift(linspace(1, 1/N, n+1)[:-1]) in float64 (σ₀ clamped to 0.999999 so that ln(1 − σ) is finite),
// timesteps = trunc(1000·σ) (int), σ cast to float32, final σ = 0. Flow: α = 1 − σ, λ = ln α − ln σ, x₀ = x − σ·v.
// Each step i ≥ 1 first corrects the previous predictor's sample with the new model output (UniC, order of the
// previous step), then predicts (UniP, order min(2, n − i, steps done + 1)). Scalars in float32 like torch.
import { Tensor } from "../tensor.js";
import { BaseScheduler, booleanOption, camelCaseKeys, numberOption, stringOption } from "./base.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, numpyLinspace, trainingAlphasCumprod, type BetaSchedule } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface UniPcConfig {
  numTrainTimesteps?: number;
  /** Flow-matching shift of the sigma grid (Wan2.1: 3.0 for 480p, 5.0 for 720p). */
  flowShift?: number;
  solverOrder?: 1 | 2;
  lowerOrderFinal?: boolean;
  /** Steps (0-based) whose corrector is skipped. */
  disableCorrector?: number[];
  /** Training betas: unused by the flow grid, kept for `alphasCumprod` (diffusers builds it regardless). */
  betaStart?: number;
  betaEnd?: number;
  betaSchedule?: BetaSchedule;
}

interface FlowLevel {
  alpha: number;
  sigma: number;
  lambda: number;
}

function flowLevel(sigma: number): FlowLevel {
  const alpha = f32(1 - sigma);
  return { alpha, sigma, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(sigma))) };
}

export class UniPcScheduler extends BaseScheduler {
  readonly name = "unipc" as const;
  readonly timestepKind = "discrete" as const;
  readonly config: Required<UniPcConfig>;
  readonly alphasCumprod: Float32Array;
  #history: Tensor[] = []; // converted model outputs (x₀ predictions), oldest first
  #lastSample: Tensor | null = null;
  #lowerOrderNums = 0;
  #thisOrder = 1;

  constructor(config: UniPcConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    for (const [key, expected] of [
      ["predictionType", "flow_prediction"],
      ["solverType", "bh2"],
    ] as const) {
      if (c[key] !== undefined && c[key] !== expected) throw new TypeError(`Expected "${expected}" for ${key} but received ${JSON.stringify(c[key])}`);
    }
    if (c.useFlowSigmas === false) throw new TypeError("Expected true for useFlowSigmas but received false");
    if (c.predictX0 === false) throw new TypeError("Expected true for predictX0 but received false");
    const disable = c.disableCorrector ?? [];
    if (!Array.isArray(disable) || !disable.every((d) => Number.isSafeInteger(d))) {
      throw new TypeError(`Expected array of integers for disableCorrector but received ${JSON.stringify(disable)}`);
    }
    this.config = {
      numTrainTimesteps: numberOption(c, "numTrainTimesteps", 1000),
      flowShift: numberOption(c, "flowShift", 3.0),
      solverOrder: numberOption(c, "solverOrder", 2) as 1 | 2,
      lowerOrderFinal: booleanOption(c, "lowerOrderFinal", true),
      disableCorrector: disable as number[],
      betaStart: numberOption(c, "betaStart", 0.0001),
      betaEnd: numberOption(c, "betaEnd", 0.02),
      betaSchedule: stringOption(c, "betaSchedule", ["linear", "scaled_linear"], "linear"),
    };
    this.alphasCumprod = trainingAlphasCumprod({ ...this.config, numTrainTimesteps: this.config.numTrainTimesteps });
    if (this.config.solverOrder !== 1 && this.config.solverOrder !== 2) {
      throw new RangeError(`Expected 1 or 2 for solverOrder but received ${this.config.solverOrder}`);
    }
  }

  /** n + 1 noise levels of the last timesteps() call (last 0); empty before. */
  override get sigmas(): Float32Array {
    return this.sigmaGrid ?? new Float32Array(0);
  }

  get initNoiseSigma(): number {
    return 1;
  }

  protected buildGrid(n: number, _options: TimestepsOptions): number[] {
    const N = this.config.numTrainTimesteps;
    const s = this.config.flowShift;
    const raw = numpyLinspace(1, 1 / N, n + 1).slice(0, n);
    const sigmas = raw.map((x) => (s * x) / (1 + (s - 1) * x));
    if (Math.abs(sigmas[0]! - 1) < 1e-6) sigmas[0] = 0.999999;
    const grid = new Float32Array(n + 1);
    sigmas.forEach((x, i) => (grid[i] = x));
    grid[n] = 0;
    this.sigmaGrid = grid;
    return sigmas.map((x) => Math.trunc(x * N));
  }

  protected override resetState(): void {
    for (const t of this.#history) t.dispose();
    this.#history = [];
    this.#lastSample?.dispose();
    this.#lastSample = null;
    this.#lowerOrderNums = 0;
    this.#thisOrder = 1;
  }

  /** Shared scalars of the UniP / UniC updates between levels s0 → t (bh2, predict_x0). */
  private coefficients(t: FlowLevel, s0: FlowLevel): { ratio: number; c1: number; bh: number; hh: number; hPhi1: number } {
    const h = f32(t.lambda - s0.lambda);
    const hh = -h;
    const hPhi1 = f32(Math.expm1(hh));
    return { ratio: f32(t.sigma / s0.sigma), c1: f32(t.alpha * hPhi1), bh: hPhi1, hh, hPhi1 };
  }

  override get state(): readonly Tensor[] {
    return this.#lastSample ? [...this.#history, this.#lastSample] : this.#history;
  }

  /** Whether step `index` first corrects the previous predictor's sample (UniC). */
  private usesCorrector(index: number): boolean {
    return index > 0 && !this.config.disableCorrector.includes(index - 1) && this.#lastSample !== null;
  }

  /** The order of step `index`'s predictor (UniP), given the steps already taken. */
  private predictorOrder(index: number): number {
    const order = this.config.lowerOrderFinal ? Math.min(this.config.solverOrder, this.grid.length - index) : this.config.solverOrder;
    return Math.min(order, this.#lowerOrderNums + 1);
  }

  protected stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput {
    const sigmas = this.sigmaGrid!;
    const level = flowLevel(sigmas[index]!);
    const x0 = Tensor.combine([
      [1, sample],
      [-level.sigma, modelOutput],
    ]);
    let current = sample;
    if (this.usesCorrector(index)) current = this.correct(index, x0, this.#lastSample!, sample);

    this.#history.push(x0);
    while (this.#history.length > this.config.solverOrder) this.#history.shift()!.dispose();
    this.#thisOrder = this.predictorOrder(index);

    this.#lastSample?.dispose();
    this.#lastSample = current === sample ? sample.clone() : current;
    const prevSample = this.predict(index, current, this.#thisOrder);
    if (this.#lowerOrderNums < this.config.solverOrder) this.#lowerOrderNums++;
    return { prevSample, predOriginalSample: x0.clone() };
  }

  /** stepAt's operations on linear forms over (x, v, history…, last sample); the new state is the new history and
   * the (corrected) sample the predictor started from. */
  protected termsAt(index: number): LinearStep {
    const held = this.#history.length;
    const { sample, modelOutput, state } = LinearForm.inputs(this.state.length);
    const history = state.slice(0, held);
    const level = flowLevel(this.sigmaGrid![index]!);
    const x0 = LinearForm.combine([[1, sample], [-level.sigma, modelOutput]]);
    let current = sample;
    if (this.usesCorrector(index)) {
      const k = this.correctorScalars(index);
      const m0 = history[held - 1]!;
      const d1t = x0.sub(m0);
      const residual = k.rk === null ? d1t.scale(0.5)
        : LinearForm.combine([[k.rho[0], history[held - 2]!.sub(m0).scale(1 / k.rk)], [k.rho[1], d1t]]);
      current = LinearForm.combine([[k.ratio, state[held]!], [-k.c1, m0], [-k.weight, residual]]);
    }
    const newHistory = [...history, x0].slice(-this.config.solverOrder);
    const k = this.predictorScalars(index, this.predictorOrder(index));
    const m0 = newHistory[newHistory.length - 1]!;
    const next = k.rk === null ? LinearForm.combine([[k.ratio, current], [-k.c1, m0]])
      : LinearForm.combine([[k.ratio, current], [-k.c1, m0], [-k.weight, newHistory[newHistory.length - 2]!.sub(m0).scale(1 / k.rk).scale(0.5)]]);
    return linearStep(next, [...newHistory, current]);
  }

  /** Scalars of the UniP step from level `index` to `index + 1` (rk only at order 2). */
  private predictorScalars(index: number, order: number): { ratio: number; c1: number; weight: number; rk: number | null } {
    const sigmas = this.sigmaGrid!;
    const t = flowLevel(sigmas[index + 1]!);
    const s0 = flowLevel(sigmas[index]!);
    const k = this.coefficients(t, s0);
    const weight = f32(t.alpha * k.bh);
    if (order === 1) return { ratio: k.ratio, c1: k.c1, weight, rk: null };
    const s1 = flowLevel(sigmas[index - 1]!);
    return { ratio: k.ratio, c1: k.c1, weight, rk: f32(f32(s1.lambda - s0.lambda) / f32(t.lambda - s0.lambda)) };
  }

  /** Scalars of the UniC correction at step `index` (order = the previous predictor's; rk, ρ only at order 2). */
  private correctorScalars(index: number): { ratio: number; c1: number; weight: number; rk: number | null; rho: [number, number] } {
    const sigmas = this.sigmaGrid!;
    const t = flowLevel(sigmas[index]!);
    const s0 = flowLevel(sigmas[index - 1]!);
    const k = this.coefficients(t, s0);
    const weight = f32(t.alpha * k.bh);
    if (this.#thisOrder === 1) return { ratio: k.ratio, c1: k.c1, weight, rk: null, rho: [0, 0] };
    const s1 = flowLevel(sigmas[index - 2]!);
    const rk = f32(f32(s1.lambda - s0.lambda) / f32(t.lambda - s0.lambda));
    return { ratio: k.ratio, c1: k.c1, weight, rk, rho: solveCorrectorRhos(rk, k.hh, k.hPhi1, k.bh) };
  }

  /** UniP-bh2: x_t = (σ_t/σ_s0)·x − α_t·hφ₁·m0 − α_t·B(h)·Σρ_k·D1_k (ρ = [½] at order 2). */
  private predict(index: number, x: Tensor, order: number): Tensor {
    const m0 = this.#history[this.#history.length - 1]!;
    const k = this.predictorScalars(index, order);
    if (k.rk === null) {
      return Tensor.combine([
        [k.ratio, x],
        [-k.c1, m0],
      ]);
    }
    const m1 = this.#history[this.#history.length - 2]!;
    const d1 = scaledDifference(m1, m0, k.rk);
    const predRes = d1.scale(0.5);
    d1.dispose();
    const out = Tensor.combine([
      [k.ratio, x],
      [-k.c1, m0],
      [-k.weight, predRes],
    ]);
    predRes.dispose();
    return out;
  }

  /** UniC-bh2 at step `index`: corrects the predictor's sample `thisSample` (from `lastSample`) with the new x₀. */
  private correct(index: number, modelT: Tensor, lastSample: Tensor, thisSample: Tensor): Tensor {
    void thisSample; // the corrected sample is rebuilt from lastSample, as the reference does
    const m0 = this.#history[this.#history.length - 1]!;
    const k = this.correctorScalars(index);
    const d1t = modelT.sub(m0);
    let residual: Tensor;
    if (k.rk === null) {
      residual = d1t.scale(0.5);
    } else {
      const m1 = this.#history[this.#history.length - 2]!;
      const d1 = scaledDifference(m1, m0, k.rk);
      residual = Tensor.combine([
        [k.rho[0], d1],
        [k.rho[1], d1t],
      ]);
      d1.dispose();
    }
    d1t.dispose();
    const out = Tensor.combine([
      [k.ratio, lastSample],
      [-k.c1, m0],
      [-k.weight, residual],
    ]);
    residual.dispose();
    return out;
  }

  /** Flow forward process: (1 − σ)·x₀ + σ·noise. */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const sigma = this.sigmaGrid![this.gridIndexOf(t)]!;
    return Tensor.combine([
      [f32(1 - sigma), original],
      [sigma, noise],
    ]);
  }
}

/** (m_i − m0)/r_k, the division as a multiply by the float32 reciprocal. */
function scaledDifference(mi: Tensor, m0: Tensor, rk: number): Tensor {
  const d = mi.sub(m0);
  const out = d.scale(1 / rk);
  d.dispose();
  return out;
}

/**
 * ρ_c = solve(R, b) for the order-2 corrector: R = [[1, 1], [r_k, 1]], b_i = hφ_i·i!/B(h) with
 * hφ_1 = expm1(hh)/hh − 1, hφ_{k+1} = hφ_k/hh − 1/(k+1)! — in float32, LU with partial pivoting like LAPACK sgesv.
 */
export function solveCorrectorRhos(rk: number, hh: number, hPhi1: number, bh: number): [number, number] {
  let hPhiK = f32(f32(hPhi1 / hh) - 1);
  let factorial = 1;
  const b: number[] = [];
  for (let i = 1; i <= 2; i++) {
    b.push(f32(f32(hPhiK * factorial) / bh));
    factorial *= i + 1;
    hPhiK = f32(f32(hPhiK / hh) - f32(1 / factorial));
  }
  const a = [
    [1, 1],
    [rk, 1],
  ];
  const pivotRow = Math.abs(a[1]![0]!) > Math.abs(a[0]![0]!) ? 1 : 0;
  const p = a[pivotRow]!;
  const o = a[1 - pivotRow]!;
  const bp = b[pivotRow]!;
  const bo = b[1 - pivotRow]!;
  const l = f32(o[0]! * f32(1 / p[0]!));
  const u11 = f32(o[1]! - f32(l * p[1]!));
  const y1 = f32(bo - f32(l * bp));
  const x1 = f32(y1 / u11);
  const x0 = f32(f32(bp - f32(p[1]! * x1)) / p[0]!);
  return [x0, x1];
}
