// PixArt and Wan2.1 through the TypeScript API on ../shared/golden: `ditto verify` passes every output of both
// cases (Wan in both key layouts: official.out from model.official.safetensors), model.info lists the condition
// specs, a session's second step with the same text skips the cross-attention K/V work (MAC counter) and matches a
// fresh forward bit for bit, and a missing condition is a TypeError naming it. Skipped when ../shared is absent.
import { existsSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { toFloat32Array, readSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";
import { verifyCase } from "../../src/verify/index.js";
import { GOLDEN, HAS_GOLDEN } from "../shared-paths.js";

const HAS_CASES = HAS_GOLDEN && existsSync(path.join(GOLDEN, "pixart/config.json")) && existsSync(path.join(GOLDEN, "wan/config.json"));

function ioTensor(caseName: string, name: string): Tensor {
  const t = readSafetensors(path.join(GOLDEN, caseName, "io.safetensors")).tensors.get(name)!;
  return Tensor.from(toFloat32Array(t), t.shape);
}

describe.skipIf(!HAS_CASES)("PixArt and Wan golden cases", () => {
  for (const name of ["pixart", "wan"]) {
    it(`verify ${name}: every output passes, nothing skipped`, async () => {
      const result = await verifyCase(path.join(GOLDEN, name), { threads: 2 });
      expect(result.error).toBeUndefined();
      expect(result.family).toBe(name);
      expect(result.skipped).toEqual([]);
      for (const [output, r] of Object.entries(result.outputs!)) expect(r.pass, output).toBe(true);
      expect(Object.keys(result.outputs!)).toContain(name === "wan" ? "official.out" : "out_without_mask");
      expect(result.pass).toBe(true);
    });
  }

  it("model.info lists the conditions; the text K/V is computed once per generation", async () => {
    const model = await loadModel(path.join(GOLDEN, "wan"), { threads: 2 });
    try {
      expect(model.info.family).toBe("wan");
      expect(model.info.conditions).toEqual([{ name: "encoderHiddenStates", shape: [-1, -1, 32], dtype: "f32", optional: false }]);
      expect(model.info.blockLists).toEqual([{ name: "blocks", count: 2 }]);
      const x = ioTensor("wan", "hidden_states");
      const text = ioTensor("wan", "encoder_hidden_states");
      const session = model.session();
      const first = await session.step(x, [900], { branches: [{ conditions: { encoderHiddenStates: text } }] });
      const second = await session.step(x, [400], { branches: [{ conditions: { encoderHiddenStates: text } }] });
      // L = 8 text tokens, D = 32, text_dim 32, 2 blocks: text embedder (L·32·D + L·D·D) + K/V (2·L·2·D·D).
      expect(first.macs - second.macs).toBe(8 * 32 * 32 + 8 * 32 * 32 + 2 * 8 * 2 * 32 * 32);
      const fresh = await loadModel(path.join(GOLDEN, "wan"), { threads: 2 });
      const recomputed = await fresh.forward(x, [400], { encoderHiddenStates: text });
      expect(second.branchOutputs[0]!.toFloat32Array()).toEqual(recomputed.toFloat32Array());
      fresh.dispose();
      await expect(model.forward(x, [400], {})).rejects.toThrow(TypeError);
      await expect(model.forward(x, [400], {})).rejects.toThrow("conditions.encoderHiddenStates");
    } finally {
      model.dispose();
    }
  });

  it("PixArt's mask is optional; a skipped block and a scaled block change the output", async () => {
    const model = await loadModel(path.join(GOLDEN, "pixart"), { threads: 2 });
    try {
      expect(model.info.conditions.map((c) => [c.name, c.optional])).toEqual([
        ["encoderHiddenStates", false],
        ["encoderAttentionMask", true],
      ]);
      const x = ioTensor("pixart", "hidden_states");
      const text = ioTensor("pixart", "encoder_hidden_states");
      const t = toFloat32Array(readSafetensors(path.join(GOLDEN, "pixart", "io.safetensors")).tensors.get("timestep")!);
      const full = await model.forwardDetailed(x, t, { encoderHiddenStates: text });
      const skipped = await model.forwardDetailed(x, t, { encoderHiddenStates: text }, { skipBlocks: [1], capture: true });
      const scaled = await model.forwardDetailed(x, t, { encoderHiddenStates: text }, { blockScales: { 1: 0 }, capture: true });
      expect(full.out.shape).toEqual([2, 8, 16, 16]);
      expect(skipped.out.toFloat32Array()).not.toEqual(full.out.toFloat32Array());
      // Scale(0) is the identity, exactly like the skip.
      expect(scaled.out.toFloat32Array()).toEqual(skipped.out.toFloat32Array());
      expect(skipped.intermediates["transformer_blocks.1.out"]!.toFloat32Array()).toEqual(skipped.intermediates["transformer_blocks.0.out"]!.toFloat32Array());
    } finally {
      model.dispose();
    }
  });
});
