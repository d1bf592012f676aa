// SD3 and Flux through a session step with CFG-style branches: each branch's condition tensors are stacked along
// the batch by the executor, so a cond + uncond step (and a weak branch skipping a block, as Skip-Layer Guidance
// does) gives each branch the output of its own forward; and from the second step on the text stream's
// context_embedder / pooled MLP are not recomputed (the step's MACs drop by exactly that work, outputs unchanged).
// Skipped when ../shared is absent.
import { existsSync } from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { readSafetensors } from "../../src/io/safetensors.js";
import { loadModel, type Model } from "../../src/model.js";
import { Tensor } from "../../src/tensor.js";
import { GOLDEN } from "../shared-paths.js";

const SD3 = path.join(GOLDEN, "sd3");
const HAS_SD3 = existsSync(path.join(SD3, "config.json"));

function closeTo(a: Float32Array, b: Float32Array, tol: number): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(a.length).toBe(b.length);
  expect(worst).toBeLessThanOrEqual(tol);
  return worst;
}

describe.skipIf(!HAS_SD3)("SD3 session branches", () => {
  let model: Model;
  const io = HAS_SD3 ? readSafetensors(path.join(SD3, "io.safetensors")).tensors : new Map();
  const tensor = (name: string) => Tensor.from(io.get(name)!.data as Float32Array, io.get(name)!.shape);
  beforeAll(async () => {
    model = await loadModel(SD3, { threads: 2 });
  });
  afterAll(() => model?.dispose());

  it("describes its conditions and block list", () => {
    expect(model.info.family).toBe("sd3");
    expect(model.info.conditions.map((c) => [c.name, c.shape])).toEqual([
      ["encoderHiddenStates", [-1, -1, 24]],
      ["pooledProjections", [-1, 20]],
    ]);
    expect(model.info.blockLists).toEqual([{ name: "transformer_blocks", count: 3 }]);
  });

  it("cond / uncond / skip-layer branches equal their own forwards", async () => {
    const x = tensor("hidden_states");
    const t = io.get("timestep")!.data as Float32Array;
    const cond = { encoderHiddenStates: tensor("encoder_hidden_states"), pooledProjections: tensor("pooled_projections") };
    const uncond = {
      encoderHiddenStates: Tensor.from(new Float32Array(2 * 9 * 24), [2, 9, 24]),
      pooledProjections: Tensor.from(new Float32Array(2 * 20), [2, 20]),
    };
    // The session runs first, on a model that has not seen these conditions: step 1 computes every row's text
    // embeddings, step 2 (same conditions) takes all 6 rows from the memo: 6 × (9·24·32 + 20·32 + 32·32) MACs fewer,
    // and every output keeps its bits.
    const session = model.session();
    const weak = [{ kind: "compute" }, { kind: "skip" }, { kind: "compute" }] as const;
    const request = { branches: [{ conditions: cond }, { conditions: uncond }, { conditions: cond, actions: weak }] };
    const first = await session.step(x, t, request);
    const second = await session.step(x, t, request);
    expect(first.macs - second.macs).toBe(6 * (9 * 24 * 32 + 20 * 32 + 32 * 32));
    for (let i = 0; i < 3; i++) {
      expect(Buffer.from(second.branchOutputs[i]!.toFloat32Array().buffer).equals(Buffer.from(first.branchOutputs[i]!.toFloat32Array().buffer))).toBe(true);
    }
    await session.end();
    const a = (await model.forward(x, t, cond)).toFloat32Array();
    const b = (await model.forward(x, t, uncond)).toFloat32Array();
    const skipped = (await model.forwardDetailed(x, t, cond, { skipBlocks: [1] })).out.toFloat32Array();
    closeTo(skipped, io.get("out_skip_layers_1")!.data as Float32Array, 2e-4);
    closeTo(first.branchOutputs[0]!.toFloat32Array(), a, 2e-5);
    closeTo(first.branchOutputs[1]!.toFloat32Array(), b, 2e-5);
    closeTo(first.branchOutputs[2]!.toFloat32Array(), skipped, 2e-5);
  });

  it("rejects a condition of the wrong shape with the family's message", async () => {
    const x = tensor("hidden_states");
    await expect(
      model.forward(x, [1, 2], { encoderHiddenStates: tensor("encoder_hidden_states"), pooledProjections: Tensor.from(new Float32Array(2 * 7), [2, 7]) }),
    ).rejects.toThrow("conditions.pooledProjections");
  });
});
