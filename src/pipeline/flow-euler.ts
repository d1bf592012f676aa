// The sampler of rectified-flow models such as the glyph fixture (its README "The reference sampler"; Esser et al.,
// "Scaling rectified flow transformers", ICML'24 for the objective): Euler on the ODE from σ = 1 to σ = 0 over a
// sigma grid, x_{i+1} = x_i + (σ_{i+1} − σ_i)·v(x_i, 1000·σ_i). Exposed with the scheduler contract the pipeline
// drives (timesteps(n) / sigmas / step(out, t, x)) so a scheduler from src/schedulers can take its place. The grid is
// the fixture's uniform σ_i = 1 − i/steps by default (NOT diffusers' linspace(1, σ_min) default grid).
import { Tensor } from "../tensor.js";

/** What the pipeline needs from a scheduler (diffusers' contract, reduced). */
export interface PipelineScheduler {
  /** Prepares `steps` steps; returns the model's timestep input for each step. */
  timesteps(steps: number): ArrayLike<number>;
  /** The noise level of each step after timesteps(n): steps + 1 values, the last one the end of sampling. */
  readonly sigmas: ArrayLike<number>;
  /** One step: the sample at the next noise level from the model output at timestep `t`. */
  step(modelOutput: Tensor, t: number, sample: Tensor): Tensor | { prevSample: Tensor };
  /** Forgets per-generation state (multistep history). */
  reset?(): void;
}

export class UniformFlowEuler implements PipelineScheduler {
  #sigmas: number[] = [];
  #timesteps: number[] = [];

  get sigmas(): number[] {
    return this.#sigmas;
  }

  timesteps(steps: number): number[] {
    if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`Expected positive integer for steps but received ${steps}`);
    // σ_i = 1 − i/steps in float32 (as torch.linspace(1, 0, steps + 1) stores them); t = 1000·σ in float32.
    this.#sigmas = Array.from({ length: steps + 1 }, (_, i) => Math.fround(1 - i / steps));
    this.#timesteps = this.#sigmas.slice(0, steps).map((s) => Math.fround(1000 * s));
    return this.#timesteps;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor): Tensor {
    const i = this.#timesteps.indexOf(t);
    if (i < 0) throw new RangeError(`Expected one of this scheduler's timesteps for t but received ${t}`);
    const dt = Math.fround(this.#sigmas[i + 1]! - this.#sigmas[i]!);
    const delta = modelOutput.scale(dt);
    const next = sample.add(delta);
    delta.dispose();
    return next;
  }
}
