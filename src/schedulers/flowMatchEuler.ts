// Flow-matching Euler (diffusers FlowMatchEulerDiscreteScheduler; SD3 / Flux / the glyph fixture): the model
// predicts the velocity v = ε − x₀ of x_σ = (1 − σ)·x₀ + σ·ε and a step is x ← x + (σ_next − σ)·v.
// Grids (shared/golden/README.md "schedulers"):
//  * default (diffusers): σ = shift(linspace(1, s_min, n)) with s_min = shift(1/1000) evaluated in float32 at
//    construction, so the last non-zero σ is shifted twice; the grid in float64, then cast to float32;
//  * explicit `sigmas` (diffusers' set_timesteps(sigmas=…)): cast to float32, shifted in float32; with dynamic
//    shifting (Flux) σ' = e^μ / (e^μ + (1/σ − 1)) in float32 instead of the static shift;
//  * "uniform" (the glyph fixture's reference sampler): σ_i = 1 − i/n, i = 0…n — NOT the diffusers default
//    (which ends at s_min, not at 1/n). Shift applies as for explicit sigmas (identity at shift 1).
// Timesteps = float32(σ)·1000 multiplied in float32; a final σ = 0 is appended.
import { Tensor } from "../tensor.js";
import { BaseScheduler, booleanOption, camelCaseKeys, numberOption } from "./base.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, numpyLinspace } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface FlowMatchEulerConfig {
  numTrainTimesteps?: number;
  shift?: number;
  useDynamicShifting?: boolean;
  baseShift?: number;
  maxShift?: number;
  baseImageSeqLen?: number;
  maxImageSeqLen?: number;
  /** Default grid when timesteps() gets no `sigmas`: "diffusers" (linspace(1, s_min, n)) or "uniform" (1 − i/n). */
  sigmaSchedule?: "diffusers" | "uniform";
}

/** Flux's μ for dynamic shifting: linear in the image token count between (baseSeqLen, baseShift) and (maxSeqLen, maxShift). */
export function fluxMu(imageSeqLen: number, baseSeqLen = 256, maxSeqLen = 4096, baseShift = 0.5, maxShift = 1.15): number {
  const m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
  const b = baseShift - m * baseSeqLen;
  return imageSeqLen * m + b;
}

export class FlowMatchEulerScheduler extends BaseScheduler {
  readonly name = "flow-euler" as const;
  readonly timestepKind = "sigma1000" as const;
  readonly config: Required<FlowMatchEulerConfig>;
  /** σ bounds of the training grid (float32, as diffusers stores them at construction). */
  readonly sigmaMax: number;
  readonly sigmaMin: number;

  constructor(config: FlowMatchEulerConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    const schedule = c.sigmaSchedule ?? "diffusers";
    if (schedule !== "diffusers" && schedule !== "uniform") {
      throw new TypeError(`Expected "diffusers" or "uniform" for sigmaSchedule but received ${JSON.stringify(schedule)}`);
    }
    this.config = {
      numTrainTimesteps: numberOption(c, "numTrainTimesteps", 1000),
      shift: numberOption(c, "shift", 1.0),
      useDynamicShifting: booleanOption(c, "useDynamicShifting", false),
      baseShift: numberOption(c, "baseShift", 0.5),
      maxShift: numberOption(c, "maxShift", 1.15),
      baseImageSeqLen: numberOption(c, "baseImageSeqLen", 256),
      maxImageSeqLen: numberOption(c, "maxImageSeqLen", 4096),
      sigmaSchedule: schedule,
    };
    if (!(this.config.shift > 0)) throw new RangeError(`Expected positive number for shift but received ${this.config.shift}`);
    // Construction: σ = t/N for t = N…1 in float32, shifted in float32 unless dynamic shifting is on.
    const n = this.config.numTrainTimesteps;
    const sMax = 1;
    const sMinRaw = f32(1 / n);
    this.sigmaMax = this.config.useDynamicShifting ? sMax : this.shiftF32(sMax);
    this.sigmaMin = this.config.useDynamicShifting ? sMinRaw : this.shiftF32(sMinRaw);
  }

  /** n + 1 noise levels of the last timesteps() call (last 0); empty before. */
  override get sigmas(): Float32Array {
    return this.sigmaGrid ?? new Float32Array(0);
  }

  get initNoiseSigma(): number {
    return 1;
  }

  /** μ for this config's dynamic shifting at a given image token count. */
  mu(imageSeqLen: number): number {
    const c = this.config;
    return fluxMu(imageSeqLen, c.baseImageSeqLen, c.maxImageSeqLen, c.baseShift, c.maxShift);
  }

  private shiftF32(s: number): number {
    const k = this.config.shift;
    return f32(f32(f32(k) * s) / f32(1 + f32(f32(k - 1) * s)));
  }

  private shiftF64(s: number): number {
    const k = this.config.shift;
    return (k * s) / (1 + (k - 1) * s);
  }

  protected buildGrid(n: number, options: TimestepsOptions): number[] {
    const { mu } = options;
    if (this.config.useDynamicShifting && (mu === undefined || !Number.isFinite(mu))) {
      throw new TypeError(`Expected finite number for mu (useDynamicShifting is on) but received ${JSON.stringify(mu)}`);
    }
    const requested = options.sigmas ?? (this.config.sigmaSchedule === "uniform" ? "uniform" : undefined);
    let sigmas: number[];
    if (requested === undefined) {
      // float64 grid from the float32 bounds, shifted in float64.
      const ts = numpyLinspace(this.sigmaMax * this.config.numTrainTimesteps, this.sigmaMin * this.config.numTrainTimesteps, n);
      const raw = ts.map((t) => t / this.config.numTrainTimesteps);
      sigmas = raw.map((s) => (this.config.useDynamicShifting ? timeShiftF64(mu!, s) : this.shiftF64(s)));
    } else {
      const given = requested === "uniform" ? Array.from({ length: n }, (_, i) => 1 - i / n) : [...requested];
      if (given.length !== n || !given.every((s) => typeof s === "number" && Number.isFinite(s))) {
        throw new RangeError(`Expected ${n} finite sigmas for sigmas but received ${JSON.stringify(requested)}`);
      }
      const raw = given.map(f32);
      sigmas = raw.map((s) => (this.config.useDynamicShifting ? timeShiftF32(mu!, s) : this.shiftF32(s)));
    }
    const sig32 = new Float32Array(n + 1);
    sigmas.forEach((s, i) => (sig32[i] = s));
    sig32[n] = 0;
    this.sigmaGrid = sig32;
    return Array.from(sig32.subarray(0, n), (s) => f32(s * this.config.numTrainTimesteps));
  }

  protected stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput {
    return { prevSample: combine2(1, sample, this.stepDt(index), modelOutput) };
  }

  /** x + dt·v: the same single combine as step(), so bit-identical. */
  protected termsAt(index: number): LinearStep {
    const { sample, modelOutput } = LinearForm.inputs(0);
    return linearStep(LinearForm.combine([[1, sample], [this.stepDt(index), modelOutput]]), []);
  }

  /** σ_next − σ in float32. */
  private stepDt(index: number): number {
    return f32(this.sigmaGrid![index + 1]! - this.sigmaGrid![index]!);
  }

  /** diffusers scale_noise: σ·noise + (1 − σ)·original at the grid's σ for t. */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const sigma = this.sigmaGrid![this.gridIndexOf(t)]!;
    return combine2(sigma, noise, f32(1 - sigma), original);
  }
}

/** Exponential time shift e^μ / (e^μ + (1/σ − 1)) in float32 on float32 σ (numpy float32 arithmetic). */
export function timeShiftF32(mu: number, sigma: number): number {
  const e = f32(Math.exp(mu));
  return f32(e / f32(e + f32(f32(1 / sigma) - 1)));
}

export function timeShiftF64(mu: number, sigma: number): number {
  const e = Math.exp(mu);
  return e / (e + (1 / sigma - 1));
}

function combine2(a: number, x: Tensor, b: number, y: Tensor): Tensor {
  return Tensor.combine([
    [a, x],
    [b, y],
  ]);
}
