// Pipeline.generate on 'cuda' with block caches, guidance methods and inpainting, through the host emulation of the
// CUDA backend (libditto_cuda_emulated.so with the test-only switch, as test/native/cuda-emulated.test.ts; docs/cuda.md
// "Testing without a GPU"). Each run is compared with the CPU engine's (max |Δ| of the latents < 1e-4, the f32 bound of
// docs/cuda.md) and its host↔device copies are counted (cudaTransferCounts): the cache policies (auto, fora) and the
// linear guidance methods (cfg, pag, autoguidance with a perturbed weak branch) run every step as one session job on
// device tensors — one upload of the initial noise, one download of the final latents — with the cache slots on the
// device and their bytes reported in stats.cacheBytes (equal to the CPU's); a non-linear method with a Tensor form
// (APG) combines on the device too, one without (CFG-Zero*) on the host (3 tensors down, 1 up per step, counted
// exactly); inpainting's known region goes up once and its mask blend runs on the device (Tensor.mul). Also: the per-step finiteness check is counted inside the step job
// (SessionStepRequest.countNonFinite), and the model's memoryBytes counts its device workspace.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { cudaTransferCounts } from "../../src/device.js";
import { loadModel, type Model } from "../../src/model.js";
import { Pipeline } from "../../src/pipeline/index.js";
import type { GenerateOptions, GenerateResult } from "../../src/pipeline/index.js";
import { Tensor } from "../../src/tensor.js";
import { MODEL, TOLERANCE, maxAbsDiff, useEmulatedCuda, EMULATED } from "../cuda-emulation.js";

useEmulatedCuda();

interface Copies { uploads: number; uploadBytes: number; downloads: number; downloadBytes: number }

describe("Pipeline.generate on 'cuda' (emulated) with caches, guidance and inpainting", () => {
  let cuda: Model;
  let cpu: Model;
  let gpuPipe: Pipeline;
  let cpuPipe: Pipeline;
  beforeAll(async () => {
    expect(existsSync(EMULATED), `${EMULATED} is built with the addon (npm run build)`).toBe(true);
    cuda = await loadModel(MODEL, { device: "cuda" });
    cpu = await loadModel(MODEL, { device: "cpu", threads: 2 });
    gpuPipe = await Pipeline.load({ model: cuda, kind: "class-conditional" });
    cpuPipe = await Pipeline.load({ model: cpu, kind: "class-conditional" });
  });
  afterAll(() => {
    cuda?.dispose();
    cpu?.dispose();
  });

  // Both runs, the CUDA one's copies, and the latents' max |Δ|.
  async function both(options: GenerateOptions): Promise<{ reference: GenerateResult; result: GenerateResult; copies: Copies; diff: number; latentBytes: number }> {
    const reference = await cpuPipe.generate(options);
    const before = cudaTransferCounts();
    const result = await gpuPipe.generate(options);
    const after = cudaTransferCounts();
    const copies = {
      uploads: after.hostToDeviceCopies - before.hostToDeviceCopies,
      uploadBytes: after.hostToDeviceBytes - before.hostToDeviceBytes,
      downloads: after.deviceToHostCopies - before.deviceToHostCopies,
      downloadBytes: after.deviceToHostBytes - before.deviceToHostBytes,
    };
    expect(result.latents.device).toBe("cpu");
    const diff = maxAbsDiff(result.latents.toFloat32Array(), reference.latents.toFloat32Array());
    return { reference, result, copies, diff, latentBytes: result.latents.size * 4 };
  }

  const base = { classLabels: [1, 7], seed: [11, 12] };

  it.each([
    ["auto", { ...base, steps: 12, guidanceScale: 3, cache: "auto" }],
    ["fora", { ...base, steps: 8, guidanceScale: 3, cache: "fora:interval=2" }],
  ] as const)("cache %s: equal to the CPU run, cache slots on the device (cacheBytes), latents copied once each way", async (_name, options) => {
    const { reference, result, copies, diff, latentBytes } = await both(options);
    expect(diff).toBeLessThan(TOLERANCE);
    expect(copies).toEqual({ uploads: 1, uploadBytes: latentBytes, downloads: 1, downloadBytes: latentBytes });
    expect(result.stats.blocksReused).toBe(reference.stats.blocksReused);
    expect(result.stats.blocksReused).toBeGreaterThan(0);
    expect(result.stats.blocksComputed).toBe(reference.stats.blocksComputed);
    expect(result.stats.cacheBytes).toBe(reference.stats.cacheBytes);
    expect(result.stats.cacheBytes).toBeGreaterThan(0);
  });

  it.each([
    ["cfg", "cfg:scale=3"],
    ["pag (a perturbed-attention branch)", "pag:layers=1,scale=2,cfgScale=3"],
    ["autoguidance (a perturbed weak branch)", "autoguidance:attention=1,layers=0+2,scale=2,cfgScale=3"],
  ])("linear guidance %s: equal to the CPU run, latents copied once each way", async (_name, guidance) => {
    const { reference, result, copies, diff, latentBytes } = await both({ ...base, steps: 5, guidance });
    expect(diff).toBeLessThan(TOLERANCE);
    expect(copies).toEqual({ uploads: 1, uploadBytes: latentBytes, downloads: 1, downloadBytes: latentBytes });
    expect(result.stats.forwards).toBe(reference.stats.forwards);
    expect(result.stats.macs).toBe(reference.stats.macs);
  });

  it("a non-linear guidance method (APG, its Tensor form): equal to the CPU run, latents copied once each way", async () => {
    const { reference, result, copies, diff, latentBytes } = await both({ ...base, steps: 5, guidance: "apg:cfgScale=4,eta=0.3" });
    expect(diff).toBeLessThan(TOLERANCE);
    expect(copies).toEqual({ uploads: 1, uploadBytes: latentBytes, downloads: 1, downloadBytes: latentBytes });
    expect(result.stats.forwards).toBe(reference.stats.forwards);
  });

  it("a non-linear method without a Tensor form (CFG-Zero*): combined on the host, 3 tensors down and 1 up per step", async () => {
    const steps = 4;
    const { reference, result, copies, diff, latentBytes } = await both({ ...base, steps, guidance: "cfgZeroStar:cfgScale=4,zeroInitSteps=0" });
    expect(diff).toBeLessThan(TOLERANCE);
    // NonlinearCombination.combine is a function of host arrays: per step the two branch outputs and x come down and
    // the velocity goes up (docs/cuda.md); plus the generation's own upload and download.
    expect(copies).toEqual({
      uploads: 1 + steps, uploadBytes: (1 + steps) * latentBytes, downloads: 1 + 3 * steps, downloadBytes: (1 + 3 * steps) * latentBytes,
    });
    expect(result.stats.forwards).toBe(reference.stats.forwards);
  });

  it("inpainting on 'cuda': the mask blend runs on the device (Tensor.mul); equal to the CPU run", async () => {
    const c = cuda.config;
    const plane = c.inputSize * c.inputSize;
    const init = await cpuPipe.generate({ classLabels: [8, 2], steps: 3, seed: [9, 10], guidanceScale: 2 });
    const mask = new Float32Array(plane);
    for (let i = 0; i < plane; i++) mask[i] = i % c.inputSize >= c.inputSize / 2 ? 1 : 0.25;
    const { result, copies, diff, latentBytes } = await both({ ...base, steps: 4, guidanceScale: 2, initImage: init.latents, mask });
    expect(diff).toBeLessThan(TOLERANCE);
    // Up: the start latents, the mask, the init latents and the noise; down: the final latents.
    expect(copies).toEqual({ uploads: 4, uploadBytes: 4 * latentBytes, downloads: 1, downloadBytes: latentBytes });
    expect(result.stats.forwards).toBe(2 * 4 * 2);
    init.latents.dispose();
  });

  it("the per-step finiteness check runs in the step job (no Tensor.countNonFinite on the JS thread) and counts like the CPU", async () => {
    const spy = vi.spyOn(Tensor.prototype, "countNonFinite");
    try {
      const { diff } = await both({ ...base, steps: 3, guidanceScale: 3 });
      expect(diff).toBeLessThan(TOLERANCE);
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    // The count itself: an epilogue extra with NaN / Infinity makes those elements of next non-finite.
    const c = cuda.config;
    const shape = [2, c.inChannels, c.inputSize, c.inputSize];
    const n = shape.reduce((p, d) => p * d, 1);
    const bad = new Float32Array(n).fill(0.25);
    bad[3] = NaN; bad[n - 1] = Infinity; bad[n / 2] = -Infinity;
    const counts: number[] = [];
    for (const model of [cpu, cuda]) {
      const session = model.session();
      const onDevice = model.device !== "cpu";
      const hostX = Tensor.from(new Float32Array(n).fill(0.5), shape), hostExtra = Tensor.from(bad, shape);
      const x = onDevice ? model.toDevice(hostX) : hostX, extra = onDevice ? model.toDevice(hostExtra) : hostExtra;
      for (const extraWeight of [0, 1]) {
        const r = await session.step(x, [500, 500], {
          branches: [{ labels: [1, 2] }],
          epilogue: { branchWeights: [1], a: 1, c: -0.1, extras: [extra], extraWeights: [extraWeight] },
          countNonFinite: true,
        });
        // 0·NaN is NaN: both weights give 3 non-finite values, as on the host.
        counts.push(r.nextNonFinite!);
        r.next!.dispose(); r.guided?.dispose();
        for (const o of r.branchOutputs) o.dispose();
      }
      const plain = await session.step(x, [500, 500], { branches: [{ labels: [1, 2] }], epilogue: { branchWeights: [1], a: 1, c: -0.1 } });
      expect(plain.nextNonFinite).toBeUndefined();
      session.dispose();
      for (const t of new Set([x, extra, hostX, hostExtra])) t.dispose();
    }
    expect(counts).toEqual([3, 3, 3, 3]);
  });

  it("memoryBytes of a 'cuda' model counts its device workspace, sized by the largest batch so far", async () => {
    const model = await loadModel(MODEL, { device: "cuda" });
    try {
      const c = model.config;
      const weightsOnly = model.memoryBytes;
      expect(weightsOnly).toBeGreaterThan(0);
      const run = async (batch: number) => {
        const shape = [batch, c.inChannels, c.inputSize, c.inputSize];
        const input = Tensor.from(new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(0.5), shape);
        (await model.forward(input, new Array(batch).fill(500), new Array(batch).fill(1))).dispose();
        input.dispose();
      };
      await run(3);
      const afterThree = model.memoryBytes;
      // At least the residual stream h, the LayerNorm output, qkv and the attention output (f32, [3·T, D] each but
      // qkv 3D wide) and the MLP hidden [3·T, 4D].
      const tokens = 3 * (c.inputSize / c.patchSize) ** 2, d = c.hiddenSize;
      expect(afterThree - weightsOnly).toBeGreaterThanOrEqual(tokens * d * (1 + 1 + 3 + 1 + 4) * 4);
      await run(2); // a smaller batch reuses the workspace
      expect(model.memoryBytes).toBe(afterThree);
      await run(5);
      expect(model.memoryBytes).toBeGreaterThan(afterThree);
    } finally {
      model.dispose();
    }
  });
});
