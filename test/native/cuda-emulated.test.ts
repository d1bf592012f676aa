// device: 'cuda' end to end through the host emulation of the CUDA backend (libditto_cuda_emulated.so: the
// backend's host code — ABI v2 table, CudaDit, CudaBackendOps, counted copies — over the CPU kernels; built with
// the addon, docs/cuda.md "Testing without a GPU"). Selected by the explicit test-only switch (DITTO_CUDA_LIB at
// the emulated library + DITTO_CUDA_EMULATED=1), set before the addon first looks for a backend. Checks: the loader
// reports ABI v2; Model.forward and Pipeline.generate on 'cuda' equal the CPU engine within the f32 tolerance
// (1e-4, the fixture's bound for the GPU forward); device tensors compute where they live (mul and the per-sample
// dotNorm too), refuse to mix devices and copy back on toFloat32Array; a generation copies its latents to the host
// exactly once, at the end.
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { chooseDevice, cudaTransferCounts } from "../../src/device.js";
import { DittoError } from "../../src/errors.js";
import { loadModel, type Model } from "../../src/model.js";
import { callNative, native } from "../../src/native.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { Tensor } from "../../src/tensor.js";
import { EMULATED, MODEL, TOLERANCE, maxAbsDiff, useEmulatedCuda } from "../cuda-emulation.js";

useEmulatedCuda();

function noise(shape: number[], seed: number): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 2 ** 31 - 1;
  }
  return Tensor.from(data, shape);
}

function dittoErrorOf(fn: () => unknown): DittoError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DittoError);
    return e as DittoError;
  }
  throw new Error("expected a DittoError");
}

describe("device: 'cuda' through the emulated CUDA backend", () => {
  let cuda: Model;
  let cpu: Model;
  beforeAll(async () => {
    expect(existsSync(EMULATED), `${EMULATED} is built with the addon (npm run build)`).toBe(true);
    cuda = await loadModel(MODEL, { device: "cuda" });
    cpu = await loadModel(MODEL, { device: "cpu", threads: 2 });
  });
  afterAll(() => {
    cuda?.dispose();
    cpu?.dispose();
  });

  it("the loader accepts the v2 table and says so; the emulation names itself; 'auto' picks the GPU", () => {
    const probe = callNative(() => native().probeDevice("cuda"));
    expect(probe).toMatchObject({ device: "cuda:0", kind: "cuda", abi: 2, reason: "requested" });
    expect(probe.description).toContain("emulated");
    const text = callNative(() => native().describeDevices());
    expect(text).toContain("ABI v2");
    expect(text).toContain("host emulation (tests only)");
    expect(cuda.device).toBe("cuda:0");
    expect(cuda.deviceReason).toBe("");
    expect(chooseDevice("auto")).toEqual({ device: "cuda:0", reason: "auto: CUDA device 0 is usable" });
  });

  it("Model.forward on 'cuda' equals the CPU engine, from a host tensor and from a device tensor", async () => {
    const x = noise([3, cuda.config.inChannels, cuda.config.inputSize, cuda.config.inputSize], 7);
    const t = [999, 500, 3];
    const labels = [0, 5, cuda.config.numClasses];
    const reference = (await cpu.forward(x, t, labels)).toFloat32Array();
    const fromHost = await cuda.forward(x, t, labels);
    expect(fromHost.device).toBe("cpu");
    expect(maxAbsDiff(fromHost.toFloat32Array(), reference)).toBeLessThan(TOLERANCE);
    const onDevice = cuda.toDevice(x);
    expect(onDevice.device).toBe("cuda:0");
    const out = await cuda.forward(onDevice, t, labels);
    expect(out.device).toBe("cuda:0");
    expect(maxAbsDiff(out.toFloat32Array(), reference)).toBeLessThan(TOLERANCE);
    for (const tensor of [x, fromHost, onDevice, out]) tensor.dispose();
  });

  it("device tensors compute where they live and match the host ops", () => {
    const a = noise([2, 3, 5], 1), b = noise([2, 3, 5], 2);
    const da = cuda.toDevice(a), db = cuda.toDevice(b);
    const pairs: Array<[Tensor, Tensor]> = [
      [da.add(db), a.add(b)],
      [da.sub(db), a.sub(b)],
      [da.lerp(db, 0.25), a.lerp(b, 0.25)],
      [da.scale(-1.5), a.scale(-1.5)],
      [da.mul(db), a.mul(b)],
      [Tensor.combine([[0.5, da], [2, db], [-1, da]]), Tensor.combine([[0.5, a], [2, b], [-1, a]])],
      [Tensor.concat([da, db]), Tensor.concat([a, b])],
      [da.slice(1, 2), a.slice(1, 2)],
      [da.clone(), a.clone()],
      [da.reshape([6, 5]), a.reshape([6, 5])],
    ];
    for (const [onDevice, onHost] of pairs) {
      expect(onDevice.device).toBe("cuda:0");
      expect(onDevice.shape).toEqual(onHost.shape);
      expect(maxAbsDiff(onDevice.toFloat32Array(), onHost.toFloat32Array())).toBeLessThan(1e-6);
    }
    const onDevice = da.dotNorm(db), onHost = a.dotNorm(b);
    for (const key of ["dot", "norm", "otherNorm"] as const) {
      expect(onDevice[key]).toHaveLength(2);
      onDevice[key].forEach((v, s) => expect(Math.abs(v - onHost[key][s]!)).toBeLessThan(1e-5));
    }
    expect(da.countNonFinite()).toBe(0);
    const bad = cuda.toDevice(Tensor.from(new Float32Array([1, NaN, Infinity, 2]), [4]));
    expect(bad.countNonFinite()).toBe(2);
  });

  it("mixing devices is ERR_INVALID_ARGUMENT; a device tensor cannot go to a CPU model", async () => {
    const host = noise([1, cuda.config.inChannels, cuda.config.inputSize, cuda.config.inputSize], 3);
    const device = cuda.toDevice(host);
    const mixed = dittoErrorOf(() => device.add(host));
    expect(mixed.code).toBe("ERR_INVALID_ARGUMENT");
    expect(mixed.message).toBe("Expected other on cuda:0 (where this is) but it is on cpu");
    expect(dittoErrorOf(() => Tensor.combine([[1, host], [1, device]])).message).toBe(
      "Expected terms[i] on cpu (where this is) but it is on cuda:0",
    );
    expect(dittoErrorOf(() => cuda.toDevice(device)).message).toBe("Expected tensor on the host but it is on cuda:0");
    await expect(cpu.forward(device, [10], [1])).rejects.toMatchObject({
      code: "ERR_INVALID_ARGUMENT",
      message: "Expected x on the host or on the model's device cpu but it is on cuda:0",
    });
  });

  it("forwardDetailed on 'cuda' captures the same intermediates (the output downloaded for the capture)", async () => {
    const x = noise([2, cuda.config.inChannels, cuda.config.inputSize, cuda.config.inputSize], 9);
    const options = { capture: true, skipBlocks: [1] };
    const reference = await cpu.forwardDetailed(x, [400, 20], [2, 4], options);
    const onDevice = cuda.toDevice(x);
    const result = await cuda.forwardDetailed(onDevice, [400, 20], [2, 4], options);
    expect(result.out.device).toBe("cuda:0");
    expect(Object.keys(result.intermediates).sort()).toEqual(Object.keys(reference.intermediates).sort());
    for (const [name, tensor] of Object.entries(reference.intermediates)) {
      expect(result.intermediates[name]!.device).toBe("cpu");
      expect(maxAbsDiff(result.intermediates[name]!.toFloat32Array(), tensor.toFloat32Array()), name).toBeLessThan(TOLERANCE);
    }
    expect(maxAbsDiff(result.out.toFloat32Array(), reference.out.toFloat32Array())).toBeLessThan(TOLERANCE);
  });

  it("sessions on 'cuda': stored / reused residuals, signals, the First-Block Cache and the epilogue match the CPU", async () => {
    const c = cuda.config;
    const x = noise([2, c.inChannels, c.inputSize, c.inputSize], 21);
    const extra = noise([2, c.inChannels, c.inputSize, c.inputSize], 22);
    const depth = c.depth;
    const store = Array.from({ length: depth }, (_, i) => (i === 1 ? { kind: "compute" as const, storeEnd: 3 } : { kind: "compute" as const }));
    const reuse = Array.from({ length: depth }, (_, i) =>
      i === 1 ? { kind: "reuse" as const, spanEnd: 3 } : i === 2 ? { kind: "skip" as const } : { kind: "compute" as const });
    const steps = [
      { t: 900, actions: store },
      { t: 600, actions: reuse },
      { t: 300, actions: store },
    ];
    const run = async (model: Model, onDevice: boolean) => {
      const session = model.session();
      let xs = onDevice ? model.toDevice(x) : x.clone();
      const ex = onDevice ? model.toDevice(extra) : extra.clone();
      const outs: Array<{ next: Float32Array; cond: Float32Array; signals: Float32Array[]; hits: Uint8Array[] }> = [];
      for (const step of steps) {
        const r = await session.step(xs, [step.t, step.t], {
          branches: [
            { key: "cond", labels: [3, 8], actions: step.actions, signals: [{ block: 2, kind: "residual" }, { block: 0, kind: "input" }],
              firstBlockCache: { threshold: 0.05 } },
            { key: "uncond", labels: [c.numClasses, c.numClasses] },
          ],
          epilogue: { branchWeights: [2.5, -1.5], anchor: 1, a: 1, c: -0.02, extras: [ex], extraWeights: [0.01] },
        });
        expect(r.next!.device).toBe(onDevice ? "cuda:0" : "cpu");
        outs.push({ next: r.next!.toFloat32Array(), cond: r.branchOutputs[0]!.toFloat32Array(), signals: r.signals, hits: r.cacheHits });
        xs.dispose();
        xs = r.next!;
      }
      const bytes = session.slotBytes;
      session.dispose();
      return { outs, bytes };
    };
    const reference = await run(cpu, false);
    const device = await run(cuda, true);
    expect(device.bytes).toBe(reference.bytes);
    expect(device.bytes).toBeGreaterThan(0);
    device.outs.forEach((o, i) => {
      const r = reference.outs[i]!;
      expect(maxAbsDiff(o.next, r.next)).toBeLessThan(TOLERANCE);
      expect(maxAbsDiff(o.cond, r.cond)).toBeLessThan(TOLERANCE);
      expect(o.hits).toEqual(r.hits);
      o.signals.forEach((sig, b) => {
        sig.forEach((v, k) => {
          const w = r.signals[b]![k]!;
          if (!Number.isFinite(w)) expect(v).toBe(w);
          else expect(Math.abs(v - w)).toBeLessThan(1e-4 * Math.max(1, Math.abs(w)));
        });
      });
    });
  });

  it("Pipeline.generate on 'cuda' equals the CPU run and copies its latents to the host once, at the end", async () => {
    const options = { classLabels: [1, 7], steps: 4, guidanceScale: 3, seed: [11, 12] };
    const gpuPipe = await Pipeline.load({ kind: "class-conditional", model: cuda });
    const cpuPipe = await Pipeline.load({ kind: "class-conditional", model: cpu });
    const reference = await cpuPipe.generate(options);
    const before = cudaTransferCounts();
    const result = await gpuPipe.generate(options);
    const after = cudaTransferCounts();
    const latentBytes = result.latents.size * 4;
    // One upload (the initial noise) and one download (the final latents), whatever the number of steps.
    expect(after.hostToDeviceCopies - before.hostToDeviceCopies).toBe(1);
    expect(after.hostToDeviceBytes - before.hostToDeviceBytes).toBe(latentBytes);
    expect(after.deviceToHostCopies - before.deviceToHostCopies).toBe(1);
    expect(after.deviceToHostBytes - before.deviceToHostBytes).toBe(latentBytes);
    expect(result.latents.device).toBe("cpu");
    expect(maxAbsDiff(result.latents.toFloat32Array(), reference.latents.toFloat32Array())).toBeLessThan(TOLERANCE);
    expect(result.stats.forwards).toBe(reference.stats.forwards);
    result.latents.dispose();
    reference.latents.dispose();
  });
});
