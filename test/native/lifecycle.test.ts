// Cancellation and lifecycle (issue 24, item 3), asserted with the engine's own allocation counter (src/memory.ts),
// not RSS: an abort at any step of generate() gives back every native byte the run took; disposing a pipeline or
// model during a run settles the run and frees everything; every use after dispose is ERR_DISPOSED; the
// FinalizationRegistry backstop frees tensors and models nobody disposed; and a process that did all of this exits
// by itself. The counter is process-wide, and vitest runs this file alone in its fork.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { memory } from "../../src/memory.js";
import { loadModel } from "../../src/model.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { Tensor } from "../../src/tensor.js";
import { rejection, settleAt, settled } from "../native-async.js";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MODEL = path.join(REPO_ROOT, "examples/models/glyphs");

describe("the engine's allocation counter", () => {
  it("counts a tensor's block until dispose", () => {
    const before = memory().allocatedBytes;
    const t = Tensor.zeros([3, 5, 7]); // 420 bytes, a 448-byte (64-byte multiple) block
    expect(memory().allocatedBytes - before).toBe(448);
    const view = t.reshape([105]);
    t.dispose();
    expect(memory().allocatedBytes - before).toBe(448); // the view still holds the storage
    view.dispose();
    expect(memory().allocatedBytes).toBe(before);
  });

  it("counts a model's weights from load to dispose (and its workspace after a forward)", async () => {
    const before = memory().allocatedBytes;
    const model = await loadModel(MODEL, { threads: 2 });
    const loaded = memory().allocatedBytes - before;
    expect(loaded).toBeGreaterThanOrEqual(model.memoryBytes);
    expect(loaded).toBeLessThan(model.memoryBytes * 1.01);
    const x = Tensor.zeros([2, 3, 32, 32]);
    const out = await model.forward(x, [500, 500], [1, 10]);
    expect(memory().allocatedBytes - before).toBeGreaterThanOrEqual(model.memoryBytes + 2 * 2 * 3 * 32 * 32 * 4);
    x.dispose();
    out.dispose();
    model.dispose();
    expect(await settleAt(before)).toBe(before);
  });
});

describe("abort and dispose during generate()", () => {
  let pipe: Pipeline;
  let base0: number; // before the pipeline loaded
  let baseline: number; // the pipeline loaded and warm at batch 3 (its workspace exists), nothing else held
  const options = { classLabels: [1, 4, 7], steps: 4, seed: 5, guidanceScale: 3 };

  beforeAll(async () => {
    base0 = memory().allocatedBytes;
    pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 2 });
    const warm = await pipe.generate(options);
    warm.latents.dispose();
    baseline = await settled(); // once the warm run's session has ended
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it("reports the engine's peak allocation of the run as stats.peakBytes", async () => {
    const out = await pipe.generate(options);
    expect(out.stats.peakBytes).toBeGreaterThan(baseline); // the latents, noise, session outputs on top
    expect(out.stats.peakBytes).toBeLessThan(baseline + 64 * 2 ** 20);
    out.latents.dispose();
    expect(await settleAt(baseline)).toBe(baseline);
  });

  for (const step of [0, 1, 2, 3]) {
    it(`gives back every byte when aborted ${step === 0 ? "before the first step" : `after step ${step}`}`, async () => {
      const controller = new AbortController();
      if (step === 0) controller.abort();
      const error = await rejection(pipe.generate({ ...options, signal: controller.signal, onStep: (e) => { if (e.step === step) controller.abort(); } }));
      expect(error).toBeInstanceOf(DittoError);
      expect(error.name).toBe("AbortError");
      expect(error.code).toBe("ERR_ABORTED");
      expect(await settleAt(baseline)).toBe(baseline);
    });
  }

  it("gives back every byte when aborted in the middle of a step's native job", async () => {
    for (const delayMs of [0, 1, 3, 8]) {
      const controller = new AbortController();
      const pending = pipe.generate({ ...options, steps: 6, signal: controller.signal });
      setTimeout(() => controller.abort(), delayMs);
      const error = await rejection(pending);
      expect(error.code).toBe("ERR_ABORTED");
      expect(await settleAt(baseline)).toBe(baseline);
    }
  });

  it("settles a run whose pipeline is disposed under it, rejects later calls with ERR_DISPOSED, and frees everything", async () => {
    const own = await Pipeline.load({ model: MODEL, threads: 1 });
    const pending = own.generate({ ...options, steps: 20, onStep: (e) => { if (e.step === 1) void own.dispose(); } });
    const error = await rejection(pending);
    expect(error.code).toBe("ERR_DISPOSED");
    const later = await rejection(own.generate(options));
    expect(later.code).toBe("ERR_DISPOSED");
    expect(later.message).toBe("Pipeline has been disposed");
    expect(await settleAt(baseline)).toBe(baseline);
  });

  it("lets a forward queued before model.dispose() complete, then frees the model", async () => {
    const before = memory().allocatedBytes;
    const model = await loadModel(MODEL, { threads: 1 });
    const x = Tensor.zeros([4, 3, 32, 32]);
    const pending = model.forward(x, [500, 500, 500, 500], [0, 1, 2, 10]);
    model.dispose();
    const out = await pending;
    expect(out.shape).toEqual([4, 3, 32, 32]);
    out.dispose();
    x.dispose();
    expect(await settleAt(before)).toBe(before);
  });

  it("frees everything once the last pipeline is disposed", async () => {
    await pipe.dispose();
    expect(await settleAt(base0)).toBe(base0);
  });
});

describe("use after dispose", () => {
  it("is ERR_DISPOSED everywhere: tensors throw, models, sessions and pipelines reject", async () => {
    const t = Tensor.zeros([2, 2]);
    t.dispose();
    expect(() => t.toFloat32Array()).toThrow("Tensor (tensor) has been disposed");
    expect(() => t.add(t)).toThrow(DittoError);
    const model = await loadModel(MODEL, { threads: 1 });
    const session = model.session();
    model.dispose();
    const x = Tensor.zeros([1, 3, 32, 32]);
    const forward = await rejection(model.forward(x, [1], [1]));
    expect([forward.code, forward.message]).toEqual(["ERR_DISPOSED", "Model has been disposed"]);
    const step = await rejection(session.step(x, [1], { branches: [{ labels: [1] }] }));
    expect(step.code).toBe("ERR_DISPOSED");
    x.dispose();
    model.dispose(); // idempotent
  });
});

describe("the process after aborts, disposes mid-run and undisposed objects", () => {
  it("frees never-disposed tensors and models through the FinalizationRegistry backstop, then exits by itself", () => {
    const code = `
      import(${JSON.stringify(path.join(REPO_ROOT, "dist/index.js"))}).then(async (d) => {
        const gc = globalThis.gc;
        const before = d.memory().allocatedBytes;
        (await d.loadModel(${JSON.stringify(MODEL)}, { threads: 1 })); // never disposed
        for (let i = 0; i < 50; i++) d.Tensor.zeros([64, 1024]);       // never disposed
        const pipe = await d.Pipeline.load({ model: ${JSON.stringify(MODEL)}, threads: 1 });
        const c = new AbortController();
        const codes = [
          await pipe.generate({ classLabels: [1, 2], steps: 8, signal: c.signal, onStep: () => c.abort() }).catch((e) => e.code),
          await pipe.generate({ classLabels: [3], steps: 8, onStep: () => void pipe.dispose() }).catch((e) => e.code),
        ];
        for (let i = 0; i < 20 && d.memory().allocatedBytes !== before; i++) {
          gc();
          await new Promise((r) => setTimeout(r, 20));
        }
        console.log(JSON.stringify({ codes, collected: d.undisposedCollected(), leftBytes: d.memory().allocatedBytes - before }));
      });`;
    const child = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", code], { encoding: "utf8", timeout: 100_000 });
    expect({ status: child.status, signal: child.signal, stderr: child.stderr }).toEqual({ status: 0, signal: null, stderr: "" });
    const report = JSON.parse(child.stdout.trim()) as { codes: string[]; collected: { tensors: number; models: number }; leftBytes: number };
    expect(report.codes.sort()).toEqual(["ERR_ABORTED", "ERR_DISPOSED"]);
    expect(report.collected.models).toBe(1);
    expect(report.collected.tensors).toBeGreaterThanOrEqual(50);
    expect(report.leftBytes).toBe(0);
  });
});
