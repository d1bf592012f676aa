// APG's Tensor form (src/guidance/apg.ts #combineTensors: what runs when the latents are on a GPU) against its
// reference, the float64 host combine, on host tensors over several steps (the momentum buffer carried in memory),
// with odd sample sizes, clipping on and off and η ≠ 0; and Tensor.dotNorm (the per-sample reduction it uses) against
// a float64 loop.
import { describe, expect, it } from "vitest";

import { AdaptiveProjectedGuidance } from "../../src/guidance/apg.js";
import type { GuidanceStep, NonlinearCombination } from "../../src/guidance/guider.js";
import { Tensor } from "../../src/tensor.js";

function random(n: number, seed: number, amplitude = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = amplitude * (s / 2 ** 31 - 1);
  }
  return out;
}

describe("APG in Tensor arithmetic", () => {
  it("Tensor.dotNorm gives per-sample ⟨a, b⟩, ‖a‖, ‖b‖ like a float64 loop", () => {
    const shape = [3, 5, 7, 3], n = 5 * 7 * 3;
    const a = random(3 * n, 1), b = random(3 * n, 2);
    const { dot, norm, otherNorm } = Tensor.from(a, shape).dotNorm(Tensor.from(b, shape));
    for (let s = 0; s < 3; s++) {
      let d = 0, p = 0, q = 0;
      for (let i = s * n; i < (s + 1) * n; i++) { d += a[i]! * b[i]!; p += a[i]! * a[i]!; q += b[i]! * b[i]!; }
      expect(dot[s]).toBeCloseTo(d, 5);
      expect(norm[s]).toBeCloseTo(Math.sqrt(p), 5);
      expect(otherNorm[s]).toBeCloseTo(Math.sqrt(q), 5);
    }
    expect(() => Tensor.from(a, shape).dotNorm(Tensor.from(b, [3, n]))).toThrow("Expected shape [3, 5, 7, 3] for other but received [3, 105]");
  });

  it.each([
    ["the paper's defaults", { cfgScale: 4 }],
    ["η = 0.3, no clip", { cfgScale: 6, eta: 0.3, normThreshold: 0 }],
    ["a clip that bites, momentum −0.75", { cfgScale: 3, momentum: -0.75, normThreshold: 2 }],
  ])("equals the host combine (%s) over 4 steps", (_name, options) => {
    const apg = new AdaptiveProjectedGuidance(options);
    const batch = 3, shape = [batch, 3, 5, 7], n = batch * 3 * 5 * 7;
    const hostMemory: Record<string, unknown> = {}, tensorMemory: Record<string, unknown> = {};
    const sigmas = [1, 0.75, 0.4, 0.1];
    let worst = 0;
    for (let i = 0; i < sigmas.length; i++) {
      const step: GuidanceStep = { index: i, total: sigmas.length, sigma: sigmas[i]!, t: 1000 * sigmas[i]!, depth: 6 };
      const x = random(n, 10 + i, 2), vc = random(n, 20 + i, 1.5), vu = random(n, 30 + i);
      const combination = apg.combination(step) as NonlinearCombination;
      const want = combination.combine([vc, vu], { x, batch, step, memory: hostMemory });
      const tx = Tensor.from(x, shape), tc = Tensor.from(vc, shape), tu = Tensor.from(vu, shape);
      const got = combination.combineTensors!([tc, tu], { x: tx, batch, step, memory: tensorMemory });
      expect(got.shape).toEqual(shape);
      const values = got.toFloat32Array();
      let scale = 0;
      for (let j = 0; j < n; j++) {
        worst = Math.max(worst, Math.abs(values[j]! - want[j]!));
        scale = Math.max(scale, Math.abs(want[j]!));
      }
      expect(scale).toBeGreaterThan(0.5);
      for (const t of [tx, tc, tu, got]) t.dispose();
    }
    // float32 element-wise terms vs float64, divided by σ down to 0.1: a few ulps of the outputs' scale.
    expect(worst).toBeLessThan(1e-4);
    (tensorMemory.apgRunningTensor as Tensor).dispose();
  });
});
