// Common machinery of the schedulers: the grid of the last timesteps() call, diffusers' step-index rule (the
// first step() looks its timestep up in the grid — the second match when a timestep repeats, as diffusers'
// index_for_timestep — and later steps advance by one), and argument checks.
import { Tensor } from "../tensor.js";
import type { LinearStep } from "./linear.js";
import { checkSteps } from "./numerics.js";
import type { Scheduler, SchedulerName, StepOutput, TimestepsOptions } from "./types.js";

export abstract class BaseScheduler implements Scheduler {
  abstract readonly name: SchedulerName | "dit-ddim";
  abstract readonly timestepKind: "sigma1000" | "discrete";
  protected grid: number[] = [];
  protected sigmaGrid: Float32Array | null = null;
  #stepIndex: number | null = null;

  get currentTimesteps(): readonly number[] {
    return this.grid;
  }

  get sigmas(): Float32Array | null {
    return this.sigmaGrid;
  }

  abstract get initNoiseSigma(): number;

  get stepIndex(): number {
    return this.#stepIndex ?? 0;
  }

  timesteps(numInferenceSteps: number, options: TimestepsOptions = {}): number[] {
    checkSteps(numInferenceSteps);
    this.grid = this.buildGrid(numInferenceSteps, options);
    this.reset();
    return [...this.grid];
  }

  /** Computes the timesteps (and sigmas, into this.sigmaGrid) for n steps. */
  protected abstract buildGrid(n: number, options: TimestepsOptions): number[];

  reset(): void {
    this.#stepIndex = null;
    this.resetState();
  }

  /** Clears multistep history; default: nothing to clear. */
  protected resetState(): void {}

  scaleModelInput(sample: Tensor, _t: number): Tensor {
    return sample;
  }

  step(modelOutput: Tensor, t: number, sample: Tensor): Tensor {
    const out = this.stepDetailed(modelOutput, t, sample);
    if (out.predOriginalSample && out.predOriginalSample !== out.prevSample) out.predOriginalSample.dispose();
    return out.prevSample;
  }

  stepDetailed(modelOutput: Tensor, t: number, sample: Tensor): StepOutput {
    if (this.grid.length === 0) throw new Error(`Call timesteps(n) on the ${this.name} scheduler before step()`);
    checkTensors(modelOutput, sample);
    const index = this.#nextIndex(t, "step()");
    const out = this.stepAt(index, modelOutput, sample);
    this.#stepIndex = index + 1;
    return out;
  }

  /** No state by default (one-step schedulers). */
  get state(): readonly Tensor[] {
    return [];
  }

  stepTerms(t: number): LinearStep | null {
    return this.termsAt(this.#nextIndex(t, "stepTerms()"));
  }

  /**
   * Records that the step stepTerms(t) described was taken outside step() — the pipeline's native step epilogue
   * computed next from the terms — so the step counter moves on exactly as step() would have moved it. Only for
   * steps that leave no state behind (stepTerms(t).nextState empty): a multistep history cannot be handed back yet,
   * so such schedulers keep taking step().
   */
  advance(t: number): void {
    const index = this.#nextIndex(t, "advance()");
    const terms = this.termsAt(index);
    if (terms === null || terms.nextState.length > 0) {
      throw new Error(`The ${this.name} scheduler's step ${index + 1} is not a stateless linear step; take it with step()`);
    }
    this.#stepIndex = index + 1;
  }

  /** The step at grid index `index` as linear forms over (sample, modelOutput, this.state); must not change state. */
  protected abstract termsAt(index: number): LinearStep | null;

  #nextIndex(t: number, what: string): number {
    if (this.grid.length === 0) throw new Error(`Call timesteps(n) on the ${this.name} scheduler before ${what}`);
    const index = this.resolveIndex(t);
    if (index >= this.grid.length) {
      throw new RangeError(`Expected at most ${this.grid.length} steps for the ${this.name} scheduler but received step ${index + 1}; call timesteps(n) or reset() to start again`);
    }
    return index;
  }

  /** The grid index a call at timestep t refers to: the running counter, or t's position before the first step. */
  protected resolveIndex(t: number): number {
    return this.#stepIndex ?? this.indexForTimestep(t);
  }

  /** The update for step `index` of the grid. */
  protected abstract stepAt(index: number, modelOutput: Tensor, sample: Tensor): StepOutput;

  abstract addNoise(original: Tensor, noise: Tensor, t: number): Tensor;

  /** diffusers' index_for_timestep: the first match, or the second when t occurs more than once. */
  protected indexForTimestep(t: number): number {
    const matches: number[] = [];
    this.grid.forEach((v, i) => {
      if (v === t) matches.push(i);
    });
    if (matches.length === 0) {
      throw new RangeError(`Expected one of the scheduler's timesteps [${this.grid.join(", ")}] for t but received ${t}`);
    }
    return matches.length > 1 ? matches[1]! : matches[0]!;
  }

  /** Index of t in the grid for addNoise (first match). */
  protected gridIndexOf(t: number): number {
    const i = this.grid.indexOf(t);
    if (i < 0) throw new RangeError(`Expected one of the scheduler's timesteps [${this.grid.join(", ")}] for t but received ${t}`);
    return i;
  }
}

function checkTensors(modelOutput: unknown, sample: unknown): void {
  if (!(modelOutput instanceof Tensor)) throw new TypeError(`Expected Tensor for modelOutput but received ${typeof modelOutput}`);
  if (!(sample instanceof Tensor)) throw new TypeError(`Expected Tensor for sample but received ${typeof sample}`);
  const a = modelOutput.shape;
  const b = sample.shape;
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
    throw new RangeError(`Expected shape [${b.join(", ")}] for modelOutput but received [${a.join(", ")}]`);
  }
}

/** Reads a number from a config object with a default; rejects non-numbers. */
export function numberOption(config: Record<string, unknown>, key: string, fallback: number): number {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new TypeError(`Expected finite number for ${key} but received ${JSON.stringify(v)}`);
  return v;
}

export function stringOption<T extends string>(config: Record<string, unknown>, key: string, allowed: readonly T[], fallback: T): T {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new TypeError(`Expected one of ${allowed.map((a) => JSON.stringify(a)).join(", ")} for ${key} but received ${JSON.stringify(v)}`);
  }
  return v as T;
}

export function booleanOption(config: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = config[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "boolean") throw new TypeError(`Expected boolean for ${key} but received ${JSON.stringify(v)}`);
  return v;
}

/** Accepts diffusers' snake_case config keys (scheduler_config.json) as well as camelCase. */
export function camelCaseKeys(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config ?? {})) {
    out[key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = value;
  }
  return out;
}
