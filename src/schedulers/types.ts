// The scheduler contract, after diffusers' SchedulerMixin (huggingface/diffusers `scheduling_utils.py`): a plain
// object with `timesteps(n)` (= set_timesteps + the resulting grid), `step(modelOutput, t, sample)` → the sample at
// the next (less noisy) timestep, `scaleModelInput(sample, t)`, `sigmas` and `initNoiseSigma`. Multistep history
// lives in the scheduler object: `timesteps(n)` and `reset()` start a new generation; use one instance per
// concurrent generation. Arithmetic on samples runs through native Tensor ops; only scalar coefficients are JS.
import type { Tensor } from "../tensor.js";
import type { LinearStep } from "./linear.js";

export type SchedulerName = "flow-euler" | "euler" | "ddim" | "dpm++2m" | "unipc";

/** Options of one `timesteps(n, options)` call (what diffusers' set_timesteps takes besides n). */
export interface TimestepsOptions {
  /** Flow-match only: explicit sigmas (n values, descending, without the final 0), or "uniform" = 1 − i/n. */
  sigmas?: readonly number[] | "uniform";
  /** Flow-match / UniPC dynamic shifting: mu of the exponential time shift (see `fluxMu`). */
  mu?: number;
}

export interface StepOutput {
  prevSample: Tensor;
  /** The model's x₀ prediction for this step, where the scheduler forms one (DDIM, Euler, DPM, UniPC). */
  predOriginalSample?: Tensor;
}

export interface Scheduler {
  readonly name: SchedulerName | "dit-ddim";
  /** What the model's timestep input is: "sigma1000" = 1000·σ floats (flow), "discrete" = training step index. */
  readonly timestepKind: "sigma1000" | "discrete";
  /** Sets the grid for n inference steps, resets the multistep state, and returns the timesteps in loop order. */
  timesteps(numInferenceSteps: number, options?: TimestepsOptions): number[];
  /** Timesteps of the last `timesteps()` call ([] before). */
  readonly currentTimesteps: readonly number[];
  /** n + 1 noise levels (last one 0) where the scheduler has them, in its own parameterisation; else null. */
  readonly sigmas: Float32Array | null;
  /** Standard deviation of the initial noise: sample_init = noise · initNoiseSigma. */
  readonly initNoiseSigma: number;
  /** Index of the next step (0 before the first step). */
  readonly stepIndex: number;
  scaleModelInput(sample: Tensor, t: number): Tensor;
  step(modelOutput: Tensor, t: number, sample: Tensor): Tensor;
  /** Like step(), also returning the x₀ prediction where there is one (caller disposes both). */
  stepDetailed(modelOutput: Tensor, t: number, sample: Tensor): StepOutput;
  /** Forward process at timestep t (img2img / inpainting): the noised version of `original`. */
  addNoise(original: Tensor, noise: Tensor, t: number): Tensor;
  /** The tensors the next step reads besides sample and modelOutput (its multistep history), oldest first; owned
   * by the scheduler (valid until its next step / reset). */
  readonly state: readonly Tensor[];
  /** The step step(·, t, ·) would take, as linear forms over (sample, modelOutput, state), without taking it; null
   * where the update is not linear. Equal to step() up to float32 rounding (src/schedulers/linear.ts). */
  stepTerms(t: number): LinearStep | null;
  /** Moves the step counter past the step stepTerms(t) described, after it was computed elsewhere (a native step
   * epilogue); only for steps whose terms have an empty nextState (throws otherwise). */
  advance(t: number): void;
  /** Forgets the multistep history and the step counter (the grid stays). */
  reset(): void;
}
