// stepTerms(t) against step() for every scheduler, on random odd-sized tensors over whole trajectories (so the
// multistep history and UniPC's corrector are exercised): before each step the linear forms are evaluated with one
// combine per output over (sample, modelOutput, scheduler.state), then step() runs, and the next sample and the
// scheduler's new state must match. Flow Euler's form IS its step (one combine, same coefficients): bit-identical.
// The others collapse several float32 roundings into one, so they agree to rounding: per element
// |terms − step| ≤ 8·2⁻²⁴·M, M = Σ_j |coefficient_j·input_j| + |step| (the magnitudes the roundings act on).
import { describe, expect, it } from "vitest";

import { applyLinearTerms, createScheduler, leadingChannels, SCHEDULER_NAMES, type Scheduler } from "../../src/schedulers/index.js";
import type { LinearTerms } from "../../src/schedulers/linear.js";
import { Tensor } from "../../src/tensor.js";

const SHAPE = [3, 5, 7, 9];
const SIZE = SHAPE.reduce((a, b) => a * b, 1);
const ULPS = 8;

function randomData(seed: number, n = SIZE): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2 + 0.01;
  }
  return out;
}

/** Largest |a − b| / (2⁻²⁴·M) over the elements (M as in the header). */
function worstUlps(terms: LinearTerms, inputs: Float32Array[], actual: Float32Array, expected: Float32Array): number {
  const coefficients = [terms.sample, terms.modelOutput, ...terms.state];
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    let magnitude = Math.abs(expected[i]!);
    coefficients.forEach((c, j) => (magnitude += Math.abs(c * inputs[j]![i]!)));
    const err = Math.abs(actual[i]! - expected[i]!);
    if (err > 0) worst = Math.max(worst, err / (2 ** -24 * magnitude));
  }
  return worst;
}

function compareTrajectory(scheduler: Scheduler, steps: number, seed: number, outChannels = SHAPE[1]!): { worst: number; exact: boolean } {
  const timesteps = scheduler.timesteps(steps);
  let x = Tensor.from(randomData(seed), SHAPE);
  let worst = 0, exact = true;
  for (let i = 0; i < timesteps.length; i++) {
    const outShape = [SHAPE[0]!, outChannels, ...SHAPE.slice(2)];
    const v = Tensor.from(randomData(seed + 100 + i, outShape.reduce((a, b) => a * b, 1)), outShape);
    const terms = scheduler.stepTerms(timesteps[i]!)!;
    expect(terms).not.toBeNull();
    const vUsed = terms.modelOutputChannels === "sample" ? leadingChannels(v, SHAPE[1]!) : v.clone();
    const state = scheduler.state.map((s) => s.clone()); // step() disposes the old history
    const inputs = [x, vUsed, ...state].map((t) => t.toFloat32Array());
    const viaTerms = applyLinearTerms(terms.next, x, vUsed, state);
    const stateViaTerms = terms.nextState.map((f) => applyLinearTerms(f, x, vUsed, state));
    const next = scheduler.step(v, timesteps[i]!, x);
    const pairs: [LinearTerms, Tensor, Tensor][] = [[terms.next, viaTerms, next]];
    expect(scheduler.state.length).toBe(terms.nextState.length);
    terms.nextState.forEach((f, k) => pairs.push([f, stateViaTerms[k]!, scheduler.state[k]!]));
    for (const [form, got, want] of pairs) {
      const a = got.toFloat32Array(), b = want.toFloat32Array();
      worst = Math.max(worst, worstUlps(form, inputs, a, b));
      exact &&= a.every((value, k) => Object.is(value, b[k]));
    }
    for (const t of [v, vUsed, viaTerms, x, ...state, ...stateViaTerms]) t.dispose();
    x = next;
  }
  x.dispose();
  return { worst, exact };
}

describe("scheduler stepTerms", () => {
  for (const name of SCHEDULER_NAMES) {
    it(`${name}: the linear form matches step() over a whole trajectory`, () => {
      for (const steps of [1, 3, 8, 25]) {
        const { worst, exact } = compareTrajectory(createScheduler(name), steps, 7 + steps, name === "dit-ddim" ? 2 * SHAPE[1]! : SHAPE[1]!);
        expect(worst, `${name}, ${steps} steps`).toBeLessThanOrEqual(ULPS);
        if (name === "flow-euler") expect(exact).toBe(true);
      }
    });
  }

  it("UniPC with a disabled corrector and first order keeps state and terms in step", () => {
    const { worst } = compareTrajectory(createScheduler("unipc", { disableCorrector: [1, 2], solverOrder: 1 }), 6, 3);
    expect(worst).toBeLessThanOrEqual(ULPS);
  });

  it("does not advance the scheduler, and refuses like step() outside the grid", () => {
    const scheduler = createScheduler("dpm++2m");
    expect(() => scheduler.stepTerms(999)).toThrow("Call timesteps(n) on the dpm++2m scheduler before stepTerms()");
    const [t0] = scheduler.timesteps(4);
    const a = scheduler.stepTerms(t0!), b = scheduler.stepTerms(t0!);
    expect(b).toEqual(a);
    expect(scheduler.stepIndex).toBe(0);
    expect(a!.next.state).toEqual([]);
    expect(a!.nextState).toHaveLength(1);
  });
});
