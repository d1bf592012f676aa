// The conditions contract of Model.forward / Session.step for every family (src/modelInputs.ts,
// bindings/conditions_binding.cpp): model.info lists inputs, conditions and outputs with their shapes; labels are
// accepted as an array or as { labels } (bit-identical); unknown or misplaced condition tensors are typed errors.
// Families with tensor conditions (text embeddings) test their own shapes against the golden cases.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { loadModel, type Model } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";
import { GLYPHS, HAS_GLYPHS } from "../shared-paths.js";

describe.skipIf(!HAS_GLYPHS)("model conditions (glyph DiT)", () => {
  let model: Model;
  const x = Tensor.from(Float32Array.from({ length: 2 * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37)), [2, 3, 32, 32]);
  beforeAll(async () => {
    model = await loadModel(GLYPHS, { threads: 2 });
  });
  afterAll(() => model?.dispose());

  it("describes its inputs, conditions, outputs and block lists", () => {
    expect(model.info).toEqual({
      family: "dit",
      layout: "official",
      inputs: [
        { name: "x", shape: [-1, 3, 32, 32], dtype: "f32", optional: false },
        { name: "t", shape: [-1], dtype: "f32", optional: false },
      ],
      conditions: [{ name: "labels", shape: [-1], dtype: "i64", optional: false }],
      outputs: [{ name: "out", shape: [-1, 3, 32, 32], dtype: "f32", optional: false }],
      blockLists: [{ name: "blocks", count: 6 }],
    });
    expect(Object.isFrozen(model.info)).toBe(true);
    expect(model.config).not.toHaveProperty("conditions");
  });

  it("takes labels as an array or as { labels }, with the same bits", async () => {
    const a = await model.forward(x, [500, 250], [3, 10]);
    const b = await model.forward(x, [500, 250], { labels: Int32Array.from([3, 10]) });
    expect(Buffer.from(b.toFloat32Array().buffer).equals(Buffer.from(a.toFloat32Array().buffer))).toBe(true);
    const session = model.session();
    const step = await session.step(x, [500, 250], { branches: [{ labels: [3, 10] }] });
    expect(Buffer.from(step.branchOutputs[0]!.toFloat32Array().buffer).equals(Buffer.from(a.toFloat32Array().buffer))).toBe(true);
    await session.end();
  });

  it("rejects unknown, missing and misplaced conditions with exact messages", async () => {
    const extra = Tensor.from(new Float32Array(2 * 4), [2, 4]);
    await expect(model.forward(x, [1, 1], { labels: [1, 2], encoderHiddenStates: extra })).rejects.toThrow(
      new TypeError('Unknown condition "encoderHiddenStates" in conditions: the dit model takes no condition tensors'),
    );
    await expect(model.forward(x, [1, 1], {})).rejects.toThrow(
      new TypeError("Expected Int32Array or number[] for labels but received undefined"),
    );
    await expect(model.forward(x, [1, 1], extra as never)).rejects.toThrow(
      new TypeError("Expected Int32Array or number[] for labels but received an instance of Tensor"),
    );
    const session = model.session();
    await expect(session.step(x, [1, 1], { branches: [{ labels: [1, 2], conditions: { mask: extra } }] })).rejects.toThrow(
      new TypeError('Unknown condition "mask" in request.branches[0].conditions: the dit model takes no condition tensors'),
    );
    await session.end();
  });
});
