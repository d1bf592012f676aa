// Autoguidance's refreshed weak term in Tensor arithmetic (src/guidance/autoguidance.ts #reuseCombineTensors: what
// runs when the latents are on a GPU) against its reference, the float64 host combine, on host tensors over a refresh
// and a reuse step (the term carried in memory as a Tensor), with and without weakUncond, an odd sample size, and a
// window opening between refreshes (no term yet).
import { describe, expect, it } from "vitest";

import { Autoguidance } from "../../src/guidance/autoguidance.js";
import type { GuidanceStep, NonlinearCombination } from "../../src/guidance/guider.js";
import { GuidanceInterval } from "../../src/guidance/interval.js";
import { Tensor } from "../../src/tensor.js";

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = 3 * (s / 2 ** 31 - 1);
  }
  return out;
}

const shape = [3, 5, 7, 3], size = 3 * 5 * 7 * 3;
const step = (index: number): GuidanceStep => ({ index, total: 10, sigma: 1 - index / 10, t: 1000 * (1 - index / 10), depth: 6 });

function compare(guider: Autoguidance | GuidanceInterval, indices: number[]): void {
  const hostMemory = {}, tensorMemory: Record<string, unknown> = {};
  const x = random(size, 99);
  try {
    for (const i of indices) {
      const st = step(i), branches = guider.branches(st);
      const outputs = branches.map((_, k) => random(size, 10 * i + k + 1));
      const c = guider.combination(st) as NonlinearCombination;
      expect(c.nonlinear).toBe(true);
      const host = c.combine(outputs, { x, batch: 3, step: st, memory: hostMemory });
      const tensors = outputs.map((o) => Tensor.from(o, shape));
      const xt = Tensor.from(x, shape);
      try {
        const got = c.combineTensors!(tensors, { x: xt, batch: 3, step: st, memory: tensorMemory });
        const values = got.toFloat32Array();
        got.dispose();
        for (let j = 0; j < size; j++) expect(Math.abs(values[j]! - host[j]!)).toBeLessThan(1e-5 * (1 + Math.abs(host[j]!)));
      } finally {
        for (const t of [...tensors, xt]) t.dispose();
      }
    }
  } finally {
    (tensorMemory.weakTermTensor as Tensor | undefined)?.dispose();
  }
}

describe("autoguidance's refreshed weak term in Tensor arithmetic", () => {
  it("equals the host combine on the refresh and the reuse step, weak term on D_c", () => {
    compare(new Autoguidance({ weakRank: 0.6, scale: 1.5, cfgScale: 4, refreshEvery: 2 }), [0, 1, 2, 3]);
  });

  it("equals it with weakUncond (the shipped auto's form) and with g = 1", () => {
    compare(Autoguidance.recommended({ cfgScale: 3.5 }), [0, 1, 2, 3, 4]);
    compare(new Autoguidance({ weakRank: 0.6, scale: 2, refreshEvery: 3 }), [0, 1, 2, 3]);
  });

  it("adds no term before the first refresh (a window opening between refreshes)", () => {
    compare(GuidanceInterval.limit(new Autoguidance({ weakRank: 0.6, scale: 1.25, cfgScale: 4, weakUncond: true, refreshEvery: 2 }), { sigmaHi: 0.75 }), [3, 4, 5]);
  });
});
