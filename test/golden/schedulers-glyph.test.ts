// The glyph fixture's reference sampler (shared/fixtures/glyphs/README.md "The reference sampler") through the
// scheduler API: createGlyphReferenceScheduler() = flow Euler, shift 1, uniform sigmas σ_i = 1 − i/steps, t = 1000·σ,
// with CFG v = v_u + s·(v_c − v_u) on the whole output, from the protocol's noise gaussian(12345 + k). The final float
// images must match reference-io `gen.steps50_cfg2.0.x` (README: a faithful f32 port lands ~1e-5; allow 1e-4).
// Also checks that diffusers' default flow grid is NOT the fixture's. Skipped when ../shared is absent.
import { existsSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { readSafetensors, toFloat32Array, toNumberArray } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model.js";
import { referenceGaussian } from "../../src/noise/index.js";
import { createGlyphReferenceScheduler, createScheduler } from "../../src/schedulers/index.js";
import { Tensor } from "../../src/tensor.js";

const FIXTURE = new URL("../../../shared/fixtures/glyphs/", import.meta.url).pathname;

describe.skipIf(!existsSync(`${FIXTURE}reference-io.safetensors`))("glyph reference sampler", () => {
  it("uniform grid: σ_i = 1 − i/n, t = 1000·σ; diffusers' default grid differs", () => {
    const s = createGlyphReferenceScheduler();
    expect(s.timesteps(4)).toEqual([1000, 750, 500, 250]);
    expect(Array.from(s.sigmas)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    const diffusersDefault = createScheduler("flow-euler", { shift: 1 });
    expect(diffusersDefault.timesteps(4)).toEqual([1000, 667, 334, 1]);
  });

  it("50 steps, CFG 2 reproduces gen.steps50_cfg2.0.x to 1e-4", async () => {
    const io = readSafetensors(`${FIXTURE}reference-io.safetensors`);
    const indices = toNumberArray(io.tensors.get("gen.steps50_cfg2.0.x_index")!).slice(0, 3);
    const reference = toFloat32Array(io.tensors.get("gen.steps50_cfg2.0.x")!);
    const model = await loadModel(FIXTURE, { threads: 2 });
    try {
      const c = model.config.inChannels;
      const h = model.config.inputSize;
      const perSample = c * h * h;
      const n = indices.length;
      const noise = new Float32Array(n * perSample);
      indices.forEach((k, i) => noise.set(referenceGaussian(12345 + k, perSample), i * perSample));
      const labels = indices.map((k) => Math.floor(k / 100));
      const nullLabel = model.config.numClasses;
      const scale = 2.0;
      const scheduler = createGlyphReferenceScheduler();
      let x = Tensor.from(noise, [n, c, h, h]);
      for (const t of scheduler.timesteps(50)) {
        const batch = Tensor.concat([x, x]);
        const v = await model.forward(batch, new Array(2 * n).fill(t), [...labels, ...labels.map(() => nullLabel)]);
        const vCond = v.slice(0, n);
        const vUncond = v.slice(n, 2 * n);
        const diff = vCond.sub(vUncond);
        const guided = Tensor.combine([
          [1, vUncond],
          [scale, diff],
        ]);
        const next = scheduler.step(guided, t, x);
        for (const tensor of [batch, v, vCond, vUncond, diff, guided, x]) tensor.dispose();
        x = next;
      }
      const out = x.toFloat32Array();
      let maxErr = 0;
      indices.forEach((_, i) => {
        const refOffset = i * perSample; // x_index lists k with k % 100 == 0 in order; we took the first ones
        for (let j = 0; j < perSample; j++) maxErr = Math.max(maxErr, Math.abs(out[i * perSample + j]! - reference[refOffset + j]!));
      });
      expect(maxErr).toBeLessThan(1e-4);
      x.dispose();
    } finally {
      model.dispose();
    }
  });
});
