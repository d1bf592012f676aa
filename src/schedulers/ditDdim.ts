// DiT's own DDIM sampler (facebookresearch/DiT diffusion/: create_diffusion(timestep_respacing) →
// SpacedDiffusion.ddim_sample_loop with η = 0), as shared/golden/README.md "dit-official / DDIM trajectory" states:
// linear betas 1e-4..0.02 over 1000 steps in float64; space_timesteps keeps round(i·stride) with Python's
// round-half-to-even (stride (N−1)/(n−1) accumulated in a double); the respaced betas 1 − ᾱ_i/ᾱ_last are turned
// back into float64 tables, then cast to float32 where the reference multiplies with them. The loop runs respaced
// index n−1…0 but the model receives the ORIGINAL timestep. Per step (ε = the first C output channels; a
// learned-σ half is ignored at η = 0):
//   x₀ = √(1/ᾱ)·x − √(1/ᾱ − 1)·ε;  ε' = (√(1/ᾱ)·x − x₀)/√(1/ᾱ − 1);  x' = x₀·√ᾱ_prev + √(1 − ᾱ_prev)·ε'.
import { Tensor } from "../tensor.js";
import { BaseScheduler, camelCaseKeys, numberOption } from "./base.js";
import { LinearForm, linearStep, type LinearStep } from "./linear.js";
import { f32, numpyLinspace, roundHalfEven } from "./numerics.js";
import type { StepOutput, TimestepsOptions } from "./types.js";

export interface DitDdimConfig {
  numTrainTimesteps?: number;
  betaStart?: number;
  betaEnd?: number;
}

/** DiT/guided-diffusion space_timesteps: "25", "10,15,20" (per equal section) or "ddim25" (a strided range). */
export function spaceTimesteps(numTimesteps: number, sectionCounts: string | number | readonly number[]): number[] {
  let counts: number[];
  if (typeof sectionCounts === "string") {
    if (sectionCounts.startsWith("ddim")) {
      const desired = Number.parseInt(sectionCounts.slice(4), 10);
      for (let i = 1; i < numTimesteps; i++) {
        if (Math.ceil(numTimesteps / i) === desired) return Array.from({ length: desired }, (_, k) => k * i);
      }
      throw new RangeError(`Expected a step count reachable with an integer stride for timestepRespacing but received ${JSON.stringify(sectionCounts)}`);
    }
    counts = sectionCounts.split(",").map((x) => Number.parseInt(x, 10));
  } else {
    counts = typeof sectionCounts === "number" ? [sectionCounts] : [...sectionCounts];
  }
  if (!counts.every((c) => Number.isSafeInteger(c) && c >= 1)) {
    throw new TypeError(`Expected positive integer step counts for timestepRespacing but received ${JSON.stringify(sectionCounts)}`);
  }
  const sizePer = Math.floor(numTimesteps / counts.length);
  const extra = numTimesteps % counts.length;
  let startIdx = 0;
  const all: number[] = [];
  counts.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new RangeError(`cannot divide section of ${size} steps into ${count}`);
    const fracStride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let k = 0; k < count; k++) {
      all.push(startIdx + roundHalfEven(cur));
      cur += fracStride;
    }
    startIdx += size;
  });
  return [...new Set(all)].sort((a, b) => a - b);
}

export interface DitDdimTables {
  /** Respaced index → original timestep. */
  timestepMap: number[];
  alphasCumprod: Float64Array;
  alphasCumprodPrev: Float64Array;
  sqrtRecipAlphasCumprod: Float64Array;
  sqrtRecipm1AlphasCumprod: Float64Array;
}

/** The float64 tables of SpacedDiffusion for the kept timesteps (GaussianDiffusion on the respaced betas). */
export function respacedTables(config: Required<DitDdimConfig>, useTimesteps: readonly number[]): DitDdimTables {
  const N = config.numTrainTimesteps;
  const scale = 1000 / N;
  const betas = numpyLinspace(scale * config.betaStart, scale * config.betaEnd, N);
  const keep = new Set(useTimesteps);
  const newBetas: number[] = [];
  const timestepMap: number[] = [];
  let acc = 1;
  let last = 1;
  for (let i = 0; i < N; i++) {
    acc *= 1 - betas[i]!;
    if (keep.has(i)) {
      newBetas.push(1 - acc / last);
      last = acc;
      timestepMap.push(i);
    }
  }
  const n = newBetas.length;
  const alphasCumprod = new Float64Array(n);
  let c = 1;
  newBetas.forEach((b, i) => (alphasCumprod[i] = c *= 1 - b));
  const alphasCumprodPrev = new Float64Array(n);
  alphasCumprodPrev[0] = 1;
  for (let i = 1; i < n; i++) alphasCumprodPrev[i] = alphasCumprod[i - 1]!;
  return {
    timestepMap,
    alphasCumprod,
    alphasCumprodPrev,
    sqrtRecipAlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a)),
    sqrtRecipm1AlphasCumprod: alphasCumprod.map((a) => Math.sqrt(1 / a - 1)),
  };
}

/** First `channels` channels of a [B, C', …] tensor (C' ≥ channels), via native slices (no per-element JS). */
export function leadingChannels(tensor: Tensor, channels: number): Tensor {
  const [batch, total, ...rest] = tensor.shape;
  if (batch === undefined || total === undefined || total < channels) {
    throw new RangeError(`Expected at least ${channels} channels in modelOutput but received [${tensor.shape.join(", ")}]`);
  }
  if (total === channels) return tensor.clone();
  const spatial = rest.reduce((a, b) => a * b, 1);
  const rows = tensor.reshape([batch * total, spatial]);
  const parts: Tensor[] = [];
  for (let b = 0; b < batch; b++) parts.push(rows.slice(b * total, b * total + channels));
  const joined = Tensor.concat(parts);
  for (const p of parts) p.dispose();
  rows.dispose();
  const out = joined.reshape([batch, channels, ...rest]);
  joined.dispose();
  return out;
}

export class DitDdimScheduler extends BaseScheduler {
  readonly name = "dit-ddim" as const;
  readonly timestepKind = "discrete" as const;
  readonly config: Required<DitDdimConfig>;
  #tables: DitDdimTables | null = null;

  constructor(config: DitDdimConfig | Record<string, unknown> = {}) {
    super();
    const c = camelCaseKeys(config as Record<string, unknown>);
    this.config = {
      numTrainTimesteps: numberOption(c, "numTrainTimesteps", 1000),
      betaStart: numberOption(c, "betaStart", 0.0001),
      betaEnd: numberOption(c, "betaEnd", 0.02),
    };
  }

  get initNoiseSigma(): number {
    return 1;
  }

  /** The tables of the last timesteps() call. */
  get tables(): DitDdimTables {
    if (!this.#tables) throw new Error("Call timesteps(n) on the dit-ddim scheduler first");
    return this.#tables;
  }

  /** timesteps(n) respaces to "n"; pass `respacing` for DiT's other forms ("ddim25", "10,15"). */
  timestepsForRespacing(respacing: string | number): number[] {
    this.#tables = respacedTables(this.config, spaceTimesteps(this.config.numTrainTimesteps, respacing));
    this.grid = [...this.#tables.timestepMap].reverse();
    this.reset();
    return [...this.grid];
  }

  protected buildGrid(n: number, _options: TimestepsOptions): number[] {
    this.#tables = respacedTables(this.config, spaceTimesteps(this.config.numTrainTimesteps, n));
    return [...this.#tables.timestepMap].reverse();
  }

  /** Respaced table index of loop step `index` (n−1 … 0). */
  respacedIndex(index: number): number {
    return this.grid.length - 1 - index;
  }

  /** modelOutput may carry extra (learned-σ) channels after the first C = sample channels; they are ignored. */
  override stepDetailed(modelOutput: Tensor, t: number, sample: Tensor): StepOutput {
    const channels = sample.shape[1];
    if (channels !== undefined && modelOutput.shape[1] !== channels) {
      const eps = leadingChannels(modelOutput, channels);
      try {
        return super.stepDetailed(eps, t, sample);
      } finally {
        eps.dispose();
      }
    }
    return super.stepDetailed(modelOutput, t, sample);
  }

  /** The float32 table scalars of grid step `index`. */
  private scalarsAt(index: number): { recip: number; recipm1: number; alphaBarPrev: number } {
    const tab = this.tables;
    const i = this.respacedIndex(index);
    return {
      recip: f32(tab.sqrtRecipAlphasCumprod[i]!),
      recipm1: f32(tab.sqrtRecipm1AlphasCumprod[i]!),
      alphaBarPrev: f32(tab.alphasCumprodPrev[i]!),
    };
  }

  /** stepAt's operations on linear forms; ε = the first C channels of the model output. */
  protected termsAt(index: number): LinearStep {
    const { recip, recipm1, alphaBarPrev } = this.scalarsAt(index);
    const { sample, modelOutput: eps } = LinearForm.inputs(0);
    const predOriginalSample = LinearForm.combine([[recip, sample], [-recipm1, eps]]);
    const epsRecomputed = LinearForm.combine([[recip, sample], [-1, predOriginalSample]]).scale(1 / recipm1);
    return linearStep(LinearForm.combine([
      [f32(Math.sqrt(alphaBarPrev)), predOriginalSample],
      [f32(Math.sqrt(f32(1 - alphaBarPrev))), epsRecomputed],
    ]), [], "sample");
  }

  protected stepAt(index: number, eps: Tensor, sample: Tensor): StepOutput {
    const { recip, recipm1, alphaBarPrev } = this.scalarsAt(index);
    const predOriginalSample = Tensor.combine([
      [recip, sample],
      [-recipm1, eps],
    ]);
    const numerator = Tensor.combine([
      [recip, sample],
      [-1, predOriginalSample],
    ]);
    const epsRecomputed = numerator.scale(1 / recipm1);
    numerator.dispose();
    const prevSample = Tensor.combine([
      [f32(Math.sqrt(alphaBarPrev)), predOriginalSample],
      [f32(Math.sqrt(f32(1 - alphaBarPrev))), epsRecomputed],
    ]);
    epsRecomputed.dispose();
    return { prevSample, predOriginalSample };
  }

  /** q(x_t | x₀) at original timestep t on the TRAINING schedule: √ᾱ_t·x₀ + √(1−ᾱ_t)·noise. */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor {
    const i = this.grid.length - 1 - this.gridIndexOf(t);
    const a = this.tables.alphasCumprod[i]!;
    return Tensor.combine([
      [f32(Math.sqrt(a)), original],
      [f32(Math.sqrt(1 - a)), noise],
    ]);
  }
}
