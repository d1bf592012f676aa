// loadModel / Model through the addon on the trained glyph DiT (../shared/fixtures/glyphs): reference-io forwards to
// 1e-4 (README tolerance), block skips, forwardWithCfg vs a JS composition, the event loop staying free during a
// long forward, abort, dispose / asyncDispose, and exact errors for bad inputs and bad model folders.
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { readSafetensors, toFloat32Array, toNumberArray } from "../../src/io/safetensors.js";
import { loadModel, type Model } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";
import { GLYPHS, HAS_GLYPHS } from "../shared-paths.js";
import { rejection } from "../native-async.js";

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function noise(batch: number, seed = 7): Tensor {
  let s = seed;
  const data = Float32Array.from({ length: batch * 3 * 32 * 32 }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
  return Tensor.from(data, [batch, 3, 32, 32]);
}

describe.skipIf(!HAS_GLYPHS)("glyph DiT", () => {
  let model: Model;
  const ref = HAS_GLYPHS ? readSafetensors(path.join(GLYPHS, "reference-io.safetensors")) : undefined;
  const tmp = mkdtempSync(path.join(tmpdir(), "ditto-model-"));

  beforeAll(async () => {
    model = await loadModel(GLYPHS, { threads: 2 });
  });
  afterAll(() => {
    model?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("parses the architecture into model.config", () => {
    expect(model.config).toMatchObject({
      family: "dit", layout: "official", inputSize: 32, patchSize: 4, inChannels: 3, outChannels: 3,
      hiddenSize: 192, depth: 6, numHeads: 3, numClasses: 10, learnSigma: false,
      input_size: 32, hidden_size: 192, // the JSON kwargs are kept as written
    });
    expect(model.threads).toBe(2);
    expect(model.macsPerSample().total).toBe(181972992); // dit.json macs_per_forward.total
  });

  it("reproduces reference-io dit.v to 1e-4", async () => {
    const x = ref!.tensors.get("dit.x")!;
    const v = await model.forward(Tensor.from(toFloat32Array(x), x.shape), toFloat32Array(ref!.tensors.get("dit.t")!), toNumberArray(ref!.tensors.get("dit.y")!));
    expect(v.shape).toEqual(ref!.tensors.get("dit.v")!.shape);
    expect(maxAbsDiff(v.toFloat32Array(), toFloat32Array(ref!.tensors.get("dit.v")!))).toBeLessThan(1e-4);
  });

  it("reproduces reference-io dit.v_skip_block (block i = identity) to 1e-4", async () => {
    const x = toFloat32Array(ref!.tensors.get("dit.x")!);
    const x1 = Tensor.from(x.slice(3072, 2 * 3072), [1, 3, 32, 32]);
    const t1 = [toFloat32Array(ref!.tensors.get("dit.t")!)[1]!];
    const y1 = [toNumberArray(ref!.tensors.get("dit.y")!)[1]!];
    const expected = toFloat32Array(ref!.tensors.get("dit.v_skip_block")!);
    for (let block = 0; block < model.config.depth; block++) {
      const { out } = await model.forwardDetailed(x1, t1, y1, { skipBlocks: [block] });
      expect(maxAbsDiff(out.toFloat32Array(), expected.subarray(block * 3072, (block + 1) * 3072))).toBeLessThan(1e-4);
    }
    // Scale α = 0 is a skip and α = 1 is a plain compute.
    const skip0 = (await model.forwardDetailed(x1, t1, y1, { blockScales: { 0: 0 } })).out.toFloat32Array();
    expect(maxAbsDiff(skip0, expected.subarray(0, 3072))).toBeLessThan(1e-5);
    const plain = (await model.forward(x1, t1, y1)).toFloat32Array();
    const scale1 = (await model.forwardDetailed(x1, t1, y1, { blockScales: { 2: 1 } })).out.toFloat32Array();
    expect(maxAbsDiff(scale1, plain)).toBeLessThan(1e-5);
  });

  it("captures named intermediates", async () => {
    const { out, intermediates } = await model.forwardDetailed(noise(2), [500, 20], [1, 10], { capture: true });
    expect(Object.keys(intermediates)).toEqual(expect.arrayContaining(["t_freq", "c", "blocks.0.out", "blocks.5.out", "final_layer.out"]));
    expect(intermediates["blocks.5.out"]!.size).toBe(2 * 64 * 192);
    expect(out.shape).toEqual([2, 3, 32, 32]);
  });

  it("forwardWithCfg guides the first channels like the official DiT", async () => {
    const half = noise(2, 11);
    const x = Tensor.concat([half, half]);
    const t = [400, 700, 400, 700];
    const y = [3, 8, 10, 10];
    const raw = (await model.forward(x, t, y)).toFloat32Array();
    const guided = (await model.forwardWithCfg(x, t, y, 4, 2)).toFloat32Array();
    const plane = 32 * 32;
    let worst = 0;
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < plane; i++) {
          const cond = raw[(n * 3 + c) * plane + i]!;
          const uncond = raw[((n + 2) * 3 + c) * plane + i]!;
          const expected = c < 2 ? uncond + 4 * (cond - uncond) : cond; // channel 2 stays the raw per-half output
          worst = Math.max(worst, Math.abs(guided[(n * 3 + c) * plane + i]! - expected));
          if (c < 2) worst = Math.max(worst, Math.abs(guided[((n + 2) * 3 + c) * plane + i]! - expected));
        }
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it("keeps the event loop free during a long forward (batch 64)", async () => {
    const x = noise(64);
    const t = new Array(64).fill(500);
    const y = Array.from({ length: 64 }, (_, i) => i % 11);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const start = performance.now();
    await model.forward(x, t, y);
    const elapsed = performance.now() - start;
    clearInterval(timer);
    // If the forward blocked the JS thread, no tick could fire until it finished.
    expect(elapsed).toBeGreaterThan(30);
    expect(ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(elapsed / 5 / 4)));
  });

  it("runs forwards on the model's own thread, not libuv's pool (fs work is not starved)", async () => {
    // Six queued forwards would occupy every libuv worker (4 by default) if they were plain AsyncWorkers.
    const x = noise(16);
    const t = new Array(16).fill(250);
    const y = new Array(16).fill(4);
    let forwardsDone = 0;
    const forwards = Array.from({ length: 6 }, () => model.forward(x, t, y).then(() => forwardsDone++));
    const { stat } = await import("node:fs/promises");
    await Promise.all(Array.from({ length: 8 }, () => stat(GLYPHS)));
    expect(forwardsDone).toBe(0); // the fs calls finished while the model was still busy
    await Promise.all(forwards);
    expect(forwardsDone).toBe(6);
  });

  it("aborts with AbortError / ERR_ABORTED and stays usable", async () => {
    const x = noise(64);
    const t = new Array(64).fill(500);
    const y = new Array(64).fill(1);
    const controller = new AbortController();
    const pending = model.forwardDetailed(x, t, y, { signal: controller.signal });
    setTimeout(() => controller.abort(), 1);
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(DittoError);
    expect(error.name).toBe("AbortError");
    expect((error as DittoError).code).toBe("ERR_ABORTED");
    // An already-aborted signal rejects before any work.
    const early = await rejection(model.forwardDetailed(noise(1), [1], [1], { signal: AbortSignal.abort() }));
    expect(early.name).toBe("AbortError");
    expect((await model.forward(noise(1), [10], [2])).shape).toEqual([1, 3, 32, 32]);
  });

  it("rejects bad inputs with exact messages before the native call", async () => {
    const wrongRank = await rejection(model.forward(Tensor.zeros([3, 32, 32]), [1, 2, 3], [1, 2, 3]));
    expect(wrongRank).toBeInstanceOf(RangeError);
    expect(wrongRank.message).toBe("Expected shape with 4 dimensions [B, C, H, W] for x but received [3, 32, 32]");
    const wrongChannels = await rejection(model.forward(Tensor.zeros([2, 4, 32, 32]), [1, 2], [1, 2]));
    expect(wrongChannels.message).toBe("Expected shape [B, 3, 32, 32] with B >= 1 for x but received [2, 4, 32, 32]");
    const wrongX = await rejection(model.forward(new Float32Array(3072) as unknown as Tensor, [1], [1]));
    expect(wrongX).toBeInstanceOf(TypeError);
    expect(wrongX.message).toBe("Expected Tensor for x but received Float32Array");
    const wrongT = await rejection(model.forward(noise(1), new Int32Array(1) as unknown as number[], [1]));
    expect(wrongT.message).toBe("Expected Float32Array or number[] for t but received Int32Array");
    const wrongLength = await rejection(model.forward(noise(2), [1, 2], [1]));
    expect(wrongLength.message).toBe("Expected 2 values (one per sample) for labels but received 1");
    const badLabel = await rejection(model.forward(noise(2), [1, 2], [3, 11]));
    expect(badLabel).toBeInstanceOf(RangeError);
    expect(badLabel.message).toBe("Expected integer between 0 and 10 (10 = unconditional) for labels[1] but received 11");
    const badT = await rejection(model.forward(noise(1), [NaN], [1]));
    expect(badT.message).toBe("Expected finite number for t[0] but received NaN");
    const badSkip = await rejection(model.forwardDetailed(noise(1), [1], [1], { skipBlocks: [6] }));
    expect(badSkip.message).toBe("Expected integer between 0 and 5 for options.skipBlocks[0] but received 6");
    expect(badLabel.stack).toContain("model.test.ts"); // the rejection points at the caller
  });

  it("reports a missing config naming the expected files", async () => {
    const dir = path.join(tmp, "noconfig");
    rmSync(dir, { recursive: true, force: true });
    await import("node:fs").then((fs) => fs.mkdirSync(dir));
    copyFileSync(path.join(GLYPHS, "dit.safetensors"), path.join(dir, "dit.safetensors"));
    const error = await rejection(loadModel(dir));
    expect(error).toBeInstanceOf(DittoError);
    expect((error as DittoError).code).toBe("ERR_MODEL_LOAD");
    expect(error.message).toContain("config.json");
    expect(error.message).toContain("dit.json");
  });

  it("reports a malformed safetensors file as ERR_MODEL_LOAD", async () => {
    const dir = path.join(tmp, "malformed");
    await import("node:fs").then((fs) => fs.mkdirSync(dir, { recursive: true }));
    copyFileSync(path.join(GLYPHS, "dit.json"), path.join(dir, "dit.json"));
    const bytes = Buffer.alloc(64);
    bytes.writeBigUInt64LE(40n, 0);
    bytes.write('{"w": {"dtype": "F32", "shape": [4]}}    ', 8);
    writeFileSync(path.join(dir, "dit.safetensors"), bytes);
    const error = await rejection(loadModel(dir));
    expect((error as DittoError).code).toBe("ERR_MODEL_LOAD");
    expect(error.message).toContain("dit.safetensors");
    const missing = await rejection(loadModel(path.join(tmp, "does-not-exist")));
    expect((missing as DittoError).code).toBe("ERR_MODEL_LOAD");
  });

  it("rejects bad load options", async () => {
    expect((await rejection(loadModel(GLYPHS, { dtype: "f16" as "f32" }))).message).toBe("Expected 'f32' or 'bf16' for options.dtype but received \"f16\"");
    expect((await rejection(loadModel(GLYPHS, { threads: 0 }))).message).toBe("Expected integer between 1 and 1024 for options.threads but received 0");
    expect((await rejection(loadModel(42 as unknown as string))).message).toBe("Expected non-empty string for path but received 42");
  });

  it("dispose: later calls reject ERR_DISPOSED; asyncDispose disposes", async () => {
    const m = await loadModel(GLYPHS, { threads: 1 });
    const inflight = m.forward(noise(2), [5, 6], [1, 2]);
    m.dispose(); // an already queued forward still completes
    expect((await inflight).shape).toEqual([2, 3, 32, 32]);
    const error = await rejection(m.forward(noise(1), [1], [1]));
    expect(error).toBeInstanceOf(DittoError);
    expect((error as DittoError).code).toBe("ERR_DISPOSED");
    expect(() => m.config).toThrow(DittoError);
    m.dispose(); // idempotent

    const scoped = await loadModel(GLYPHS, { threads: 1 });
    await scoped[Symbol.asyncDispose]();
    expect(scoped.disposed).toBe(true);
    expect(((await rejection(scoped.forward(noise(1), [1], [1]))) as DittoError).code).toBe("ERR_DISPOSED");
  });

  it("bf16 weights stay close to f32", async () => {
    const m = await loadModel(GLYPHS, { threads: 2, dtype: "bf16" });
    try {
      const x = noise(2, 5);
      const a = (await model.forward(x, [300, 800], [4, 10])).toFloat32Array();
      const b = (await m.forward(x, [300, 800], [4, 10])).toFloat32Array();
      const scale = Math.max(...Array.from(a, Math.abs));
      expect(maxAbsDiff(a, b) / scale).toBeLessThan(0.05);
    } finally {
      m.dispose();
    }
  });
});
