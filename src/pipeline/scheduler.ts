// Which scheduler drives the pipeline's loop. The default is the model's reference sampler: for rectified-flow
// models like the glyph fixture, Euler on the flow ODE over the uniform grid σ_i = 1 − i/steps (dit.json → sampler;
// src/schedulers' FlowMatchEuler with shift 1 and sigmaSchedule 'uniform' — NOT diffusers' default
// linspace(1, σ_min) grid). Any object with the scheduler contract (timesteps / sigmas / step) may be passed instead;
// stepTerms / state / advance let the pipeline fold a linear step into the model's step job (epilogueTerms).
import { typeError } from "../errors.js";
import { createGlyphReferenceScheduler } from "../schedulers/index.js";
import type { LinearStep } from "../schedulers/linear.js";
import type { Tensor } from "../tensor.js";

/** What the pipeline needs from a scheduler (src/schedulers' contract, reduced). */
export interface PipelineScheduler {
  /** Prepares `steps` steps (and resets multistep state); returns the model's timestep input for each step. */
  timesteps(steps: number): ArrayLike<number>;
  /** After timesteps(n): the n + 1 noise levels σ (the last one where sampling ends), or null if it has none. */
  readonly sigmas: ArrayLike<number> | null;
  /** One step: the sample at the next noise level from the (guided) model output at timestep `t`. */
  step(modelOutput: Tensor, t: number, sample: Tensor): Tensor;
  /** Optional (src/schedulers have them): the step as linear forms, the tensors they read besides x and the model
   * output, and advance(t) to move past a step computed from the forms. With all three the pipeline runs each
   * stateless linear step inside the model's step job (the native epilogue); otherwise it calls step(). */
  stepTerms?(t: number): LinearStep | null;
  readonly state?: readonly Tensor[];
  advance?(t: number): void;
}

/** The step's linear forms when the pipeline can run it in the native epilogue (a linear step leaving no state
 * behind, on a scheduler that can be advanced past it); null: take scheduler.step(). */
export function epilogueTerms(scheduler: PipelineScheduler, t: number): LinearStep | null {
  if (typeof scheduler.stepTerms !== "function" || typeof scheduler.advance !== "function") return null;
  const terms = scheduler.stepTerms(t);
  if (terms === null || terms.nextState.length > 0) return null;
  if (terms.next.state.length !== (scheduler.state?.length ?? 0)) return null;
  return terms;
}

export function resolveScheduler(option: "flow-euler" | PipelineScheduler | undefined): PipelineScheduler {
  if (option === undefined || option === "flow-euler") return createGlyphReferenceScheduler();
  if (option !== null && typeof option === "object" && typeof option.timesteps === "function" && typeof option.step === "function") {
    return option;
  }
  throw typeError("'flow-euler' or a scheduler object with timesteps(), sigmas and step()", "scheduler", option);
}
