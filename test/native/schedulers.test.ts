// Scheduler steps on native tensors against naive float32 JS references on random, odd-sized, non-zero inputs,
// plus the state rules: reset() / a fresh instance reproduce a run exactly, stepping past the grid or with a
// foreign timestep throws, learned-σ channels are ignored by DiT's DDIM, and addNoise / scaleModelInput formulas.
import { describe, expect, it } from "vitest";

import {
  DitDdimScheduler,
  createScheduler,
  leadingChannels,
  type Scheduler,
} from "../../src/schedulers/index.js";
import { Tensor } from "../../src/tensor.js";

const f32 = Math.fround;
const SHAPE = [3, 5, 7, 9];
const SIZE = SHAPE.reduce((a, b) => a * b, 1);

function randomData(seed: number, n = SIZE): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 4 - 2 + 0.01; // non-zero, mixed signs
  }
  return out;
}

function run(scheduler: Scheduler, n: number, seed: number): Float32Array {
  const timesteps = scheduler.timesteps(n);
  let x = Tensor.from(randomData(seed), SHAPE);
  for (let i = 0; i < timesteps.length; i++) {
    const out = Tensor.from(randomData(seed + 100 + i), SHAPE);
    const next = scheduler.step(out, timesteps[i]!, x);
    out.dispose();
    x.dispose();
    x = next;
  }
  const result = x.toFloat32Array();
  x.dispose();
  return result;
}

describe("scheduler steps on native tensors", () => {
  it("flow Euler step is x + (σ_next − σ)·v in float32, bit for bit", () => {
    const s = createScheduler("flow-euler", { shift: 3 });
    const ts = s.timesteps(7);
    const xData = randomData(1);
    const vData = randomData(2);
    const x = Tensor.from(xData, SHAPE);
    const v = Tensor.from(vData, SHAPE);
    const sig = s.sigmas!;
    const dt = f32(sig[1]! - sig[0]!);
    const got = s.step(v, ts[0]!, x).toFloat32Array();
    for (let i = 0; i < SIZE; i++) expect(got[i]).toBe(f32(xData[i]! + f32(dt * vData[i]!)));
  });

  it("DDIM step matches the float32 formula (division within 1 ulp)", () => {
    const s = createScheduler("ddim", { timestep_spacing: "trailing" }) as Scheduler & { alphasCumprod: Float32Array };
    const ts = s.timesteps(9);
    const xData = randomData(3);
    const eData = randomData(4);
    const got = s.step(Tensor.from(eData, SHAPE), ts[0]!, Tensor.from(xData, SHAPE)).toFloat32Array();
    const a = s.alphasCumprod[ts[0]!]!;
    const ap = s.alphasCumprod[ts[0]! - Math.floor(1000 / 9)]!;
    for (let i = 0; i < SIZE; i++) {
      const x0 = f32(f32(xData[i]! - f32(f32(Math.sqrt(f32(1 - a))) * eData[i]!)) / f32(Math.sqrt(a)));
      const want = f32(f32(f32(Math.sqrt(ap)) * x0) + f32(f32(Math.sqrt(f32(1 - ap))) * eData[i]!));
      expect(Math.abs(got[i]! - want)).toBeLessThanOrEqual(4e-7 * Math.max(1, Math.abs(want)));
    }
  });

  it("Euler scaleModelInput divides by √(σ² + 1); addNoise of flow Euler is σ·n + (1 − σ)·x", () => {
    const euler = createScheduler("euler");
    const ts = euler.timesteps(5);
    const xData = randomData(5);
    const scaled = euler.scaleModelInput(Tensor.from(xData, SHAPE), ts[0]!).toFloat32Array();
    const sigma = euler.sigmas![0]!;
    const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    for (let i = 0; i < SIZE; i += 17) expect(scaled[i]).toBeCloseTo(xData[i]! / denom, 6);
    const flow = createScheduler("flow-euler");
    const fts = flow.timesteps(4);
    const nData = randomData(6);
    const noised = flow.addNoise(Tensor.from(xData, SHAPE), Tensor.from(nData, SHAPE), fts[1]!).toFloat32Array();
    const s1 = flow.sigmas![1]!;
    for (let i = 0; i < SIZE; i += 13) expect(noised[i]).toBeCloseTo(s1 * nData[i]! + (1 - s1) * xData[i]!, 5);
  });

  for (const name of ["dpm++2m", "unipc", "euler", "ddim", "flow-euler"] as const) {
    it(`${name}: reset() and a fresh instance reproduce the run exactly; steps past the grid throw`, () => {
      const a = createScheduler(name);
      const first = run(a, 6, 7);
      a.reset();
      const again = run(a, 6, 7);
      const fresh = run(createScheduler(name), 6, 7);
      expect(Array.from(again)).toEqual(Array.from(first));
      expect(Array.from(fresh)).toEqual(Array.from(first));
      expect(first.every(Number.isFinite)).toBe(true);
      // A different model-output sequence changes the result (the multistep history is used).
      expect(Array.from(run(a, 6, 8))).not.toEqual(Array.from(first));
      const x = Tensor.from(randomData(1), SHAPE);
      expect(() => a.step(x, a.currentTimesteps[0]!, x)).toThrow(/Expected at most 6 steps/);
    });
  }

  it("multistep history matters: DPM++ 2M second step differs from a first-order restart", () => {
    const a = createScheduler("dpm++2m");
    const ts = a.timesteps(5);
    const x0 = Tensor.from(randomData(11), SHAPE);
    const e0 = Tensor.from(randomData(12), SHAPE);
    const e1 = Tensor.from(randomData(13), SHAPE);
    const x1 = a.step(e0, ts[0]!, x0);
    const secondOrder = a.step(e1, ts[1]!, x1).toFloat32Array();
    const b = createScheduler("dpm++2m");
    b.timesteps(5);
    // A fresh scheduler started at ts[1] (diffusers looks the index up) has no history: first order.
    const firstOrder = b.step(e1, ts[1]!, x1).toFloat32Array();
    expect(Array.from(secondOrder)).not.toEqual(Array.from(firstOrder));
  });

  it("foreign timesteps and shape mismatches are rejected with clear messages", () => {
    const s = createScheduler("ddim");
    s.timesteps(4);
    const x = Tensor.from(randomData(1), SHAPE);
    expect(() => s.step(x, 123, x)).toThrow("Expected one of the scheduler's timesteps [750, 500, 250, 0] for t but received 123");
    const other = Tensor.from(randomData(2, 15), [3, 5]);
    expect(() => s.step(other, 750, x)).toThrow("Expected shape [3, 5, 7, 9] for modelOutput but received [3, 5]");
    expect(() => createScheduler("unipc").step(x, 999, x)).toThrow("Call timesteps(n) on the unipc scheduler before step()");
  });

  it("leadingChannels takes the first C channels; DiT DDIM ignores learned-σ channels", () => {
    const data = randomData(21, 2 * 6 * 3 * 5);
    const full = Tensor.from(data, [2, 6, 3, 5]);
    const eps = leadingChannels(full, 3).toFloat32Array();
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 3 * 15; j++) expect(eps[b * 45 + j]).toBe(data[b * 90 + j]);
    }
    const s1 = new DitDdimScheduler();
    const s2 = new DitDdimScheduler();
    const ts = s1.timesteps(10);
    s2.timesteps(10);
    const x = Tensor.from(randomData(22, 2 * 3 * 15), [2, 3, 3, 5]);
    const withSigma = s1.step(full, ts[0]!, x).toFloat32Array();
    const epsOnly = s2.step(Tensor.from(eps, [2, 3, 3, 5]), ts[0]!, x).toFloat32Array();
    expect(Array.from(withSigma)).toEqual(Array.from(epsOnly));
  });
});
