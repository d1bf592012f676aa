// Non-finite numbers never pass silently (issue 22, defect 4): a checkpoint with NaN/Inf in a weight is rejected at
// load naming the tensor (checkFinite: false skips the check), a generation whose latents turn non-finite rejects
// with ERR_NUMERICS naming the step instead of returning a black image, and `ditto generate` (spawned from dist/,
// so this needs the build) exits 1 without writing the PNG. Tensor.countNonFinite is checked against a naive count.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import { loadModel } from "../../src/model.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { Tensor } from "../../src/tensor.js";
import { rejection } from "../native-async.js";

const ROOT = path.resolve(new URL("../..", import.meta.url).pathname);
const CLI = path.join(ROOT, "dist/cli.js");
const MODEL = path.join(ROOT, "examples/models/glyphs");
const dir = mkdtempSync(path.join(tmpdir(), "ditto-numerics-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the glyph model with one F32 tensor edited in place. */
function editedModel(name: string, tensor: string, edit: (values: Float32Array) => void): string {
  const out = path.join(dir, name);
  mkdirSync(out);
  copyFileSync(path.join(MODEL, "dit.json"), path.join(out, "dit.json"));
  const { tensors, metadata } = readSafetensors(path.join(MODEL, "dit.safetensors"));
  edit(tensors.get(tensor)!.data as Float32Array);
  writeSafetensors(path.join(out, "dit.safetensors"), tensors, metadata);
  return out;
}

describe("non-finite weights at load", () => {
  const nanModel = editedModel("nan", "blocks.1.mlp.fc1.weight", (v) => { v[5] = NaN; });
  const infModel = editedModel("inf", "final_layer.linear.bias", (v) => { v[47] = -Infinity; });

  it("rejects with ERR_MODEL_LOAD naming the tensor, the element and the value", async () => {
    const nan = await rejection(loadModel(nanModel));
    expect(nan).toBeInstanceOf(DittoError);
    expect(nan.code).toBe("ERR_MODEL_LOAD");
    expect(nan.message).toBe(
      `Tensor "blocks.1.mlp.fc1.weight" in "${nanModel}/dit.safetensors" holds a non-finite value (NaN at element 5); ` +
        "the checkpoint is corrupt (pass checkFinite: false to load it anyway)",
    );
    expect((await rejection(loadModel(infModel))).message).toContain('Tensor "final_layer.linear.bias" in');
    expect((await rejection(loadModel(infModel))).message).toContain("(-Infinity at element 47)");
  });

  it("checkFinite: false loads it, and generate rejects with ERR_NUMERICS naming the step", async () => {
    const model = await loadModel(nanModel, { checkFinite: false });
    await using pipe = await Pipeline.load({ model });
    const error = await rejection(pipe.generate({ classLabels: [3, 5], steps: 3, seed: 0 }));
    expect(error).toBeInstanceOf(DittoError);
    expect(error.code).toBe("ERR_NUMERICS");
    expect(error.message).toBe("The latents became non-finite at step 1 of 3 (6144 of 6144 values are NaN or Infinity)");
    model.dispose();
  });

  it("validates the option", async () => {
    await expect(loadModel(MODEL, { checkFinite: "no" as unknown as boolean })).rejects.toThrow(
      new TypeError('Expected boolean for options.checkFinite but received "no"'),
    );
  });
});

describe("latents that overflow during sampling", () => {
  // Every weight finite (so the load check passes), but the final projection's weights near the float32 maximum
  // with mixed signs, so its dot products overflow to ±Infinity (and CFG's cond − uncond to NaN).
  const overflowing = editedModel("overflow", "final_layer.linear.weight", (v) => {
    for (let i = 0; i < v.length; i++) v[i] = ((i * 7919) % 13 < 6 ? 1 : -1) * 3e38;
  });

  it("generate rejects with ERR_NUMERICS at the first step", async () => {
    await using pipe = await Pipeline.load({ model: overflowing });
    const error = await rejection(pipe.generate({ classLabels: [1], steps: 2, seed: 0 }));
    expect(error.code).toBe("ERR_NUMERICS");
    expect(error.message).toMatch(/^The latents became non-finite at step 1 of 2 \(\d+ of 3072 values are NaN or Infinity\)$/);
  });

  it("ditto generate exits 1 with the error and writes no PNG", () => {
    const png = path.join(dir, "overflow.png");
    const run = spawnSync(process.execPath, [CLI, "generate", "--model", overflowing, "--class", "1", "--steps", "2", "--out", png], {
      encoding: "utf8",
      cwd: ROOT,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain("ERR_NUMERICS: The latents became non-finite at step 1 of 2");
    expect(existsSync(png)).toBe(false);
  });
});

describe("Tensor.countNonFinite", () => {
  it("matches a naive count on random odd-sized tensors", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const n of [1, 3, 17, 1001, 65537]) {
      const values = Float32Array.from({ length: n }, () => (random() - 0.5) * 1e6);
      for (let k = 0; k < Math.ceil(n / 50); k++) values[Math.floor(random() * n)] = [NaN, Infinity, -Infinity][k % 3]!;
      values[n - 1] = random() < 0.5 ? NaN : values[n - 1]!;
      const expected = values.reduce((count, v) => count + (Number.isFinite(v) ? 0 : 1), 0);
      using t = Tensor.from(values, [n]);
      expect(t.countNonFinite()).toBe(expected);
    }
  });
});
