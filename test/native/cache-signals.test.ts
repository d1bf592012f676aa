// The executor's cache signals and rules (issue 19) through model.session() on the vendored glyph DiT, against naive
// references computed in JS from a captured forward of the same input (x_embed = block 0's input, blocks.5.out):
//  * forecastError (order 0 and 1) and residualNorm of the stored stack residual R = blocks.5.out − x_embed;
//  * the input-probe rule (TeaCache / EasyCache): d = rel-L1 of block 0's input vs the previous step's, the
//    polynomial, per-sample accumulated values (+∞ forces a compute) and scale;
//  * DBCache's rest end: a hit reuses [probeEnd, restEnd) and the back blocks still run;
//  * cacheBudgetBytes: a store over the budget frees its slot, a reuse of a missing span computes it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = "examples/models/glyphs";
const DEPTH = 6;
const ROW = 64 * 192;

function noise(batch: number, seed: number): Tensor {
  let s = seed;
  const data = Float32Array.from({ length: batch * 3 * 32 * 32 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
  return Tensor.from(data, [batch, 3, 32, 32]);
}

const relL1 = (cur: ArrayLike<number>, ref: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < cur.length; i++) {
    num += Math.abs(cur[i]! - ref[i]!);
    den += Math.abs(ref[i]!);
  }
  return num / den;
};
const storeAll = () => [{ kind: "compute" as const, storeEnd: DEPTH }, ...Array.from({ length: DEPTH - 1 }, () => ({ kind: "compute" as const }))];

let model: Model;
beforeAll(async () => {
  model = await loadModel(MODEL, { threads: 2 });
});
afterAll(() => model?.dispose());

describe("cache signals against naive references", () => {
  it("forecastError (orders 0 and 1), residualNorm and input change of the stored stack residual", async () => {
    const session = model.session();
    const residuals: Float64Array[] = [], inputs: Float32Array[] = [];
    const ts = [900, 700, 400];
    let last: Float32Array | undefined;
    for (let k = 0; k < 3; k++) {
      const x = noise(1, 11 + k);
      const { intermediates, out } = await model.forwardDetailed(x, [ts[k]!], [3], { capture: true });
      const h0 = intermediates["x_embed"]!.toFloat32Array(), hL = intermediates["blocks.5.out"]!.toFloat32Array();
      residuals.push(Float64Array.from(hL, (v, j) => v - h0[j]!));
      inputs.push(h0);
      out.dispose();
      for (const t of Object.values(intermediates)) t.dispose();
      const r = await session.step(x, [ts[k]!], {
        branches: [{
          labels: [3], actions: storeAll(), signals: [
            { block: 0, kind: "forecastError", end: DEPTH, order: 1 },
            { block: 0, kind: "forecastError", end: DEPTH, order: 0 },
            { block: 0, kind: "residualNorm", end: DEPTH },
            { block: 0, kind: "input" },
          ],
        }],
      });
      last = r.signals[0]!;
      expect(r.blocksComputed).toBe(DEPTH);
      expect(r.blocksReused).toBe(0);
      if (k === 0) expect([last[0], last[1], last[3]]).toEqual([Infinity, Infinity, Infinity]);
      if (k === 1) {
        expect(last[0]).toBe(Infinity); // one stored residual: no first-order forecast yet
        expect(last[1]).toBeCloseTo(relL1(residuals[0]!, residuals[1]!), 4);
      }
      x.dispose();
    }
    // step 2: P = R1 + (R1 − R0)·(2 − 1)/(1 − 0)
    const predicted = residuals[1]!.map((v, j) => 2 * v - residuals[0]![j]!);
    expect(last![0]).toBeCloseTo(relL1(predicted, residuals[2]!), 4);
    expect(last![1]).toBeCloseTo(relL1(residuals[1]!, residuals[2]!), 4);
    expect(last![2]! / Math.hypot(...residuals[2]!)).toBeCloseTo(1, 4);
    expect(last![3]).toBeCloseTo(relL1(inputs[2]!, inputs[1]!), 4);
    session.dispose();
  });

  it("the input-probe rule: polynomial, accumulated (+∞ forces a compute) and scale per sample", async () => {
    const session = model.session();
    const x = noise(2, 5);
    const rule = (accumulated?: number[], scale?: number[]) => ({
      branches: [{ labels: [1, 2], firstBlockCache: { threshold: 0.5, probe: "input" as const, coefficients: [2, 0.25], ...(accumulated ? { accumulated } : {}), ...(scale ? { scale } : {}) } }],
    });
    const s0 = await session.step(x, [800, 800], rule());
    expect(Array.from(s0.cacheHits[0]!)).toEqual([0, 0]);
    expect(s0.signals[0]![0]).toBe(Infinity);
    expect(s0.blocksComputed).toBe(2 * DEPTH);
    // same x: d = 0, poly(0) = 0.25; 0.2 + 0.25 < 0.5 hits, +∞ computes
    const s1 = await session.step(x, [700, 700], rule([0.2, Infinity]));
    expect(Array.from(s1.signals[0]!)).toEqual([0, 0]);
    expect(Array.from(s1.cacheHits[0]!)).toEqual([1, 0]);
    expect([s1.blocksComputed, s1.blocksReused]).toEqual([DEPTH, DEPTH]);
    const s2 = await session.step(x, [600, 600], rule([0.2, 0.2], [2, 1])); // 0.2 + 2·0.25 misses, 0.2 + 0.25 hits
    expect(Array.from(s2.cacheHits[0]!)).toEqual([0, 1]);
    await expect(session.step(x, [600, 600], { branches: [{ labels: [1, 2], firstBlockCache: { threshold: 0.5, probe: "input", probeEnd: 1 } }] }))
      .rejects.toThrow("Expected 0 (an input probe) for request.branches[0].firstBlockCache.probeEnd but received 1");
    await expect(session.step(x, [600, 600], rule([0.2])))
      .rejects.toThrow("Expected 2 numbers (one per sample) for request.branches[0].firstBlockCache.accumulated but received number[]");
    x.dispose();
    session.dispose();
  });

  it("DBCache's rest end: a hit reuses [1, 5) and block 5 still runs", async () => {
    const session = model.session();
    const x = noise(1, 9);
    const request = { branches: [{ labels: [3], firstBlockCache: { threshold: 0.05, probeEnd: 1, restEnd: DEPTH - 1 } }] };
    await session.step(x, [500], request);
    const hit = await session.step(x, [500], request);
    expect(hit.cacheHits[0]![0]).toBe(1);
    expect([hit.blocksComputed, hit.blocksReused]).toEqual([2, DEPTH - 2]);
    expect(session.slotBytes).toBe(2 * ROW * 4); // the probe's reference and the rest
    await expect(session.step(x, [500], { branches: [{ labels: [3], firstBlockCache: { threshold: 0.05, restEnd: 1 } }] }))
      .rejects.toThrow("Expected integer between 2 and 6 for request.branches[0].firstBlockCache.restEnd but received 1");
    x.dispose();
    session.dispose();
  });

  it("cacheBudgetBytes: stores past the budget are dropped and their reuse computes instead", async () => {
    const session = model.session();
    const x = noise(3, 21);
    await session.step(x, [600, 600, 600], { branches: [{ labels: [1, 2, 3], actions: storeAll() }], cacheBudgetBytes: ROW * 4 });
    expect(session.slotBytes).toBe(ROW * 4);
    const reuse = [{ kind: "reuse" as const, spanEnd: DEPTH }, ...Array.from({ length: DEPTH - 1 }, () => ({ kind: "skip" as const }))];
    const r = await session.step(x, [600, 600, 600], { branches: [{ labels: [1, 2, 3], actions: reuse }], cacheBudgetBytes: ROW * 4 });
    expect([r.blocksReused, r.blocksComputed]).toEqual([DEPTH, 2 * DEPTH]);
    expect(r.slotBytes).toBeLessThanOrEqual(ROW * 4);
    // without a budget a missing span is still an error
    await expect(session.step(x, [600, 600, 600], { branches: [{ labels: [1, 2, 3], actions: reuse }] })).rejects.toThrow("no residual stored for blocks [0, 6)");
    x.dispose();
    session.dispose();
  });
});
