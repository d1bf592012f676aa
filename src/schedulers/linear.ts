// A scheduler step as a linear form, for a native step epilogue (docs/architecture.md, "Sessions"): every built-in scheduler's
// update is linear in its inputs — the current sample x, the (guided) model output v and the tensors it keeps
// between steps (its multistep history h_j) — so one step is
//   next = a·x + c·v + Σ_j d_j·h_j,      state'_k = a_k·x + c_k·v + Σ_j d_kj·h_j,
// with scalar coefficients that depend only on the step index. `stepTerms(t)` returns them WITHOUT taking the step;
// step() stays the reference and its float order (several roundings through intermediate tensors) differs from the
// collapsed form's single combine, so the two agree to float32 rounding, not bit for bit (test/native/
// scheduler-terms.test.ts states the tolerance). Coefficients are collapsed in float64 from the same float32 scalars
// step() uses. This file holds the small symbolic algebra the schedulers build their terms with and a TS evaluator.
import { Tensor } from "../tensor.js";

/** Coefficients of one linear form over the step's inputs. */
export interface LinearTerms {
  readonly sample: number;
  readonly modelOutput: number;
  /** One coefficient per tensor of `scheduler.state` at the time of stepTerms() (oldest first). */
  readonly state: readonly number[];
}

export interface LinearStep {
  /** The next sample. */
  readonly next: LinearTerms;
  /** The scheduler's state after the step, each tensor a linear form of the same inputs ([] for one-step schedulers). */
  readonly nextState: readonly LinearTerms[];
  /** 'sample': only the first C channels of modelOutput enter (C = the sample's channels; DiT's learned-σ half is
   * dropped); 'all': modelOutput has the sample's shape. */
  readonly modelOutputChannels: "all" | "sample";
}

/** A linear form under construction: coefficients over [sample, modelOutput, state_0, …]. */
export class LinearForm {
  private constructor(readonly coefficients: readonly number[]) {}

  /** The inputs of a step with `stateCount` state tensors: x, v and each h_j. */
  static inputs(stateCount: number): { sample: LinearForm; modelOutput: LinearForm; state: LinearForm[] } {
    const n = 2 + stateCount;
    const unit = (i: number) => new LinearForm(Array.from({ length: n }, (_, k) => (k === i ? 1 : 0)));
    return { sample: unit(0), modelOutput: unit(1), state: Array.from({ length: stateCount }, (_, j) => unit(2 + j)) };
  }

  /** Σ c_j·f_j (Tensor.combine's symbolic twin). */
  static combine(terms: ReadonlyArray<readonly [number, LinearForm]>): LinearForm {
    const n = terms[0]![1].coefficients.length;
    const out = new Array<number>(n).fill(0);
    for (const [c, f] of terms) for (let i = 0; i < n; i++) out[i]! += c * f.coefficients[i]!;
    return new LinearForm(out);
  }

  sub(other: LinearForm): LinearForm {
    return LinearForm.combine([[1, this], [-1, other]]);
  }

  scale(s: number): LinearForm {
    return LinearForm.combine([[s, this]]);
  }

  terms(): LinearTerms {
    const [sample, modelOutput, ...state] = this.coefficients;
    return Object.freeze({ sample: sample!, modelOutput: modelOutput!, state: Object.freeze(state) });
  }
}

export function linearStep(next: LinearForm, nextState: readonly LinearForm[], modelOutputChannels: "all" | "sample" = "all"): LinearStep {
  return Object.freeze({ next: next.terms(), nextState: Object.freeze(nextState.map((f) => f.terms())), modelOutputChannels });
}

/** Evaluates one linear form with one native combine (terms with a zero coefficient are left out). */
export function applyLinearTerms(terms: LinearTerms, sample: Tensor, modelOutput: Tensor, state: readonly Tensor[]): Tensor {
  if (terms.state.length !== state.length) {
    throw new RangeError(`Expected ${terms.state.length} state tensors (one per state coefficient) for state but received ${state.length}`);
  }
  const pairs: [number, Tensor][] = [[terms.sample, sample], [terms.modelOutput, modelOutput]];
  terms.state.forEach((d, j) => pairs.push([d, state[j]!]));
  const nonZero = pairs.filter(([c]) => c !== 0);
  return Tensor.combine(nonZero.length ? nonZero : [[0, sample]]);
}
