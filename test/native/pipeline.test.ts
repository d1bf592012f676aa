// Pipeline end to end on the vendored glyph DiT: reproduces the fixture's reference run (reference noise, 50 steps,
// CFG 2) at the stored indices, batch independence of Philox noise, stats, abort (rejects within one step, pipeline
// stays usable), dispose, img2img / inpainting invariants, custom schedulers and argument errors.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { isDittoError } from "../../src/errors.js";
import { readSafetensors } from "../../src/io/safetensors.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { createScheduler } from "../../src/schedulers/index.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = new URL("../../examples/models/glyphs", import.meta.url).pathname;
const FIXTURE = new URL("../../../shared/fixtures/glyphs/", import.meta.url).pathname;

let pipe: Pipeline;
beforeAll(async () => {
  pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 2 });
});
afterAll(async () => {
  await pipe?.dispose();
});

describe.skipIf(!existsSync(FIXTURE))("reference run of the glyph fixture", () => {
  it("reproduces gen.steps50_cfg2.0 (x to 1e-4, u8 images ±1 at most occasionally)", async () => {
    const io = readSafetensors(`${FIXTURE}reference-io.safetensors`);
    const index = Array.from(io.tensors.get("gen.steps50_cfg2.0.index")!.data as BigInt64Array, Number);
    const u8 = io.tensors.get("gen.steps50_cfg2.0.u8")!.data as Uint8Array;
    const xIndex = Array.from(io.tensors.get("gen.steps50_cfg2.0.x_index")!.data as BigInt64Array, Number);
    const xRef = io.tensors.get("gen.steps50_cfg2.0.x")!.data as Float32Array;
    const n = 1000; // the protocol's N: labels floor(k·10/N), seeds 12345 + k
    const out = await pipe.generate({
      classLabels: index.map((k) => Math.floor((k * 10) / n)),
      seed: index.map((k) => 12345 + k),
      steps: 50,
      guidanceScale: 2,
      noise: "reference",
    });
    const x = out.latents.toFloat32Array();
    const perImage = x.length / index.length;
    let maxErr = 0;
    xIndex.forEach((k, j) => {
      const row = index.indexOf(k);
      for (let i = 0; i < perImage; i++) maxErr = Math.max(maxErr, Math.abs(x[row * perImage + i]! - xRef[j * perImage + i]!));
    });
    expect(maxErr).toBeLessThan(1e-4);
    let offByOne = 0;
    out.images.forEach((img, row) => {
      for (let i = 0; i < img.data.length; i++) {
        const d = Math.abs(img.data[i]! - u8[row * img.data.length + i]!);
        expect(d).toBeLessThanOrEqual(1);
        offByOne += d;
      }
    });
    expect(offByOne).toBeLessThan(10); // of 92,160 values
    expect(out.stats.forwards).toBe(index.length * 2 * 50);
    expect(out.stats.macs).toBe(out.stats.forwards * pipe.model.macsPerSample().total);
    expect(out.stats.blocksComputed).toBe(out.stats.forwards * pipe.model.config.depth);
    out.latents.dispose();
  });
});

describe("pipeline", () => {
  it("gives a sample the same image alone or in a batch (Philox per-sample seeds)", async () => {
    const batch = await pipe.generate({ classLabels: [3, 7, 1], steps: 4, seed: 42, guidanceScale: 3 });
    const alone = await pipe.generate({ classLabels: [7], steps: 4, seed: 43, guidanceScale: 3 });
    const perSample = alone.latents.size;
    const b = batch.latents.toFloat32Array().subarray(perSample, 2 * perSample);
    const a = alone.latents.toFloat32Array();
    let maxErr = 0;
    for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    expect(maxErr).toBeLessThan(1e-5);
    expect(alone.images[0]!.data).toEqual(batch.images[1]!.data);
    const other = await pipe.generate({ classLabels: [7], steps: 4, seed: 44, guidanceScale: 3 });
    expect(other.images[0]!.data).not.toEqual(alone.images[0]!.data);
  });

  it("reports onStep events and counts one pass per sample with CFG 1", async () => {
    const events: { step: number; total: number; sigma: number; computedBlocks: number }[] = [];
    const out = await pipe.generate({ classLabels: [0, 5], steps: 3, seed: 1, guidanceScale: 1, onStep: (e) => events.push(e) });
    expect(events.map((e) => [e.step, e.total, e.sigma, e.computedBlocks])).toEqual([
      [1, 3, 1, 2 * 6], [2, 3, Math.fround(2 / 3), 2 * 6], [3, 3, Math.fround(1 / 3), 2 * 6],
    ]);
    expect(out.stats.forwards).toBe(6);
    expect(out.stats.blocksReused).toBe(0);
    expect(out.stats.peakBytes).toBeGreaterThan(0);
    expect(out.latents.shape).toEqual([2, 3, 32, 32]);
  });

  it("aborts within one step with AbortError / ERR_ABORTED and stays usable", async () => {
    const controller = new AbortController();
    let steps = 0;
    const run = pipe.generate({
      classLabels: [1, 2], steps: 20, seed: 5,
      signal: controller.signal,
      onStep: (e) => { steps = e.step; if (e.step === 2) controller.abort(); },
    });
    await expect(run).rejects.toMatchObject({ name: "AbortError", code: "ERR_ABORTED" });
    expect(steps).toBe(2);
    await expect(pipe.generate({ classLabels: [1], steps: 2, signal: AbortSignal.abort() }))
      .rejects.toMatchObject({ name: "AbortError", code: "ERR_ABORTED" });
    const after = await pipe.generate({ classLabels: [1], steps: 2, seed: 0 });
    expect(after.images).toHaveLength(1);
  });

  it("keeps the unmasked region of the init image exactly (inpainting) and runs strength·steps for img2img", async () => {
    const init = await pipe.generate({ classLabels: [8], steps: 4, seed: 9, guidanceScale: 2 });
    const x0 = init.latents;
    const mask = new Float32Array(32 * 32);
    for (let y = 0; y < 32; y++) for (let x = 16; x < 32; x++) mask[y * 32 + x] = 1; // regenerate the right half
    const painted = await pipe.generate({ classLabels: [3], steps: 4, seed: 10, initImage: x0, mask });
    const a = x0.toFloat32Array(), b = painted.latents.toFloat32Array();
    let leftSame = true, rightChanged = 0;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const i = (c * 32 + y) * 32 + x;
      if (x < 16) leftSame &&= a[i] === b[i];
      else if (a[i] !== b[i]) rightChanged++;
    }
    expect(leftSame).toBe(true);
    expect(rightChanged).toBeGreaterThan(1000);

    const events: number[] = [];
    const img2img = await pipe.generate({ classLabels: [8], steps: 10, seed: 11, initImage: init.images[0]!, strength: 0.5, onStep: (e) => events.push(e.total) });
    expect(events).toEqual([5, 5, 5, 5, 5]);
    expect(img2img.stats.forwards).toBe(5 * 2);
  });

  it("accepts a scheduler object with the timesteps / sigmas / step contract", async () => {
    const builtIn = await pipe.generate({ classLabels: [4], steps: 3, seed: 2 });
    const custom = await pipe.generate({ classLabels: [4], steps: 3, seed: 2, scheduler: createScheduler("flow-euler", { shift: 1, sigmaSchedule: "uniform" }) });
    expect(custom.latents.toFloat32Array()).toEqual(builtIn.latents.toFloat32Array());
    // diffusers' default flow grid linspace(1, σ_min) is a different sampler: same noise, different image.
    const diffusersGrid = await pipe.generate({ classLabels: [4], steps: 3, seed: 2, scheduler: createScheduler("flow-euler", { shift: 1 }) });
    expect(diffusersGrid.latents.toFloat32Array()).not.toEqual(builtIn.latents.toFloat32Array());
    await expect(pipe.generate({ classLabels: [4], steps: 3, scheduler: createScheduler("ddim") }))
      .rejects.toThrow("Expected a scheduler with 4 sigmas after timesteps(3) (a flow-matching grid) for scheduler");
  });

  it("checks its arguments before any work", async () => {
    await expect(pipe.generate({ classLabels: [11] })).rejects.toThrow("Expected integer between 0 and 10 (10 = unconditional) for classLabels[0] but received 11");
    await expect(pipe.generate({ classLabels: [1, 2], seed: [1] })).rejects.toThrow("Expected 2 seeds (one per sample) for seed but received 1");
    await expect(pipe.generate({ classLabels: [1], steps: 0 })).rejects.toThrow("Expected integer between 1 and 10000 for steps but received 0");
    await expect(pipe.generate({ classLabels: [1], strength: 0.5 })).rejects.toThrow(RangeError);
    await expect(pipe.generate({ classLabels: [1], cache: { kind: "firstBlock", threshold: 2, warmupSteps: -1 } })).rejects.toThrow("Expected integer >= 0 for cache.warmupSteps but received -1");
    await expect(pipe.generate({ classLabels: [1], cache: "auto", cacheBudgetBytes: 0 })).rejects.toThrow("Expected positive integer for cacheBudgetBytes but received 0");
    await expect(pipe.generate({ classLabels: [1], initImage: Tensor.zeros([1, 3, 16, 16]) }))
      .rejects.toThrow("Expected shape [1, 1 or 3, 32, 32] for initImage but received [1, 3, 16, 16]");
  });

  it("uses the model's recommended settings and rejects use after dispose", async () => {
    const own = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 1 });
    expect(own.recommended).toEqual({ steps: 50, guidanceScale: 4 });
    expect(own.device).toBe("cpu");
    await own.dispose();
    const error = await own.generate({ classLabels: [1] }).catch((e: unknown) => e);
    expect(isDittoError(error, "ERR_DISPOSED")).toBe(true);
    await expect(Pipeline.load({ model: MODEL, device: "cuda" })).rejects.toMatchObject({ code: "ERR_CUDA" });
  });

  it("disposes with await using, and leaves a Model it was given to its owner", async () => {
    let scoped: Pipeline | undefined;
    {
      await using p = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 1 });
      scoped = p;
      expect((await p.generate({ classLabels: [2], steps: 1, seed: 0 })).images).toHaveLength(1);
    }
    await expect(scoped!.generate({ classLabels: [2], steps: 1 })).rejects.toMatchObject({ code: "ERR_DISPOSED" });
    const borrowed = await Pipeline.load({ model: pipe.model });
    await borrowed.dispose();
    expect(pipe.model.disposed).toBe(false);
    expect((await pipe.generate({ classLabels: [2], steps: 1, seed: 0 })).images).toHaveLength(1);
  });
});
