// Input validation with exact messages (issue 24, item 2): every bad argument the issue lists is refused before any
// native work, as a TypeError / RangeError whose message says what was expected, where, and what came instead —
// labels out of range, wrong shapes, NaN / Inf inputs, steps 0 / negative / absurd, negative or NaN scales,
// non-integer seeds, empty batches, unknown policy names and keys.
import path from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { memory } from "../../src/memory.js";
import { Pipeline } from "../../src/pipeline/index.js";
import { Tensor } from "../../src/tensor.js";

const MODEL = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples/models/glyphs");

let pipe: Pipeline;
beforeAll(async () => {
  pipe = await Pipeline.load({ kind: "class-conditional", model: MODEL, threads: 1 });
});
afterAll(async () => {
  await pipe?.dispose();
});

async function failure(run: () => Promise<unknown>): Promise<[string, string]> {
  try {
    await run();
  } catch (e) {
    return [(e as Error).name, (e as Error).message];
  }
  throw new Error("expected a rejection");
}

const labels = "Expected integer between 0 and 10 (10 = unconditional) for";
const GENERATE_CASES: [string, Record<string, unknown>, [string, string]][] = [
  ["a label above the null class", { classLabels: [11] }, ["RangeError", `${labels} classLabels[0] but received 11`]],
  ["a negative label", { classLabels: [1, -1] }, ["RangeError", `${labels} classLabels[1] but received -1`]],
  ["a fractional label", { classLabels: [1.5] }, ["RangeError", `${labels} classLabels[0] but received 1.5`]],
  ["a NaN label", { classLabels: [NaN] }, ["RangeError", `${labels} classLabels[0] but received NaN`]],
  ["an empty batch", { classLabels: [] }, ["RangeError", "Expected at least one label for classLabels but received []"]],
  ["steps 0", { classLabels: [1], steps: 0 }, ["RangeError", "Expected integer between 1 and 10000 for steps but received 0"]],
  ["negative steps", { classLabels: [1], steps: -3 }, ["RangeError", "Expected integer between 1 and 10000 for steps but received -3"]],
  ["absurd steps", { classLabels: [1], steps: 1e9 }, ["RangeError", "Expected integer between 1 and 10000 for steps but received 1000000000"]],
  ["fractional steps", { classLabels: [1], steps: 2.5 }, ["RangeError", "Expected integer between 1 and 10000 for steps but received 2.5"]],
  ["a negative guidance scale", { classLabels: [1], guidanceScale: -1 }, ["RangeError", "Expected finite number >= 0 for guidanceScale but received -1"]],
  ["a NaN guidance scale", { classLabels: [1], guidanceScale: NaN }, ["TypeError", "Expected finite number for guidanceScale but received NaN"]],
  ["an infinite guidance scale", { classLabels: [1], guidanceScale: Infinity }, ["TypeError", "Expected finite number for guidanceScale but received Infinity"]],
  ["a negative cfg SPEC scale", { classLabels: [1], guidance: "cfg:scale=-1" }, ["RangeError", "Expected number >= 0 for guidance policy cfg.scale but received -1"]],
  ["a fractional seed", { classLabels: [1], seed: 1.5 }, ["RangeError", "Expected integer between 0 and 9007199254740991 for seed but received 1.5"]],
  ["a negative seed", { classLabels: [1], seed: -1 }, ["RangeError", "Expected integer between 0 and 9007199254740991 for seed but received -1"]],
  ["a fractional seed in a list", { classLabels: [1, 2], seed: [1, 2.5] }, ["RangeError", "Expected non-negative safe integer for seed[1] but received 2.5"]],
  ["an unknown cache policy", { classLabels: [1], cache: "turbo" }, ["RangeError", 'Unknown cache policy "turbo": expected one of none, firstBlock, dbCache, teaCache, magCache, fora, deltaDit, taylorSeer, easyCache, auto']],
  ["an unknown cache key", { classLabels: [1], cache: "firstBlock:speed=2" }, ["RangeError", 'Unknown parameter "speed" for cache policy firstBlock: expected one of threshold, warmupSteps, maxCachedSteps']],
  ["a NaN cache threshold", { classLabels: [1], cache: "firstBlock:threshold=NaN" }, ["RangeError", 'Expected a number for cache policy firstBlock.threshold but received "NaN"']],
  ["an unknown guidance key", { classLabels: [1], guidance: "cfg:power=2" }, ["RangeError", 'Unknown parameter "power" for guidance policy cfg: expected one of scale']],
  ["an unknown noise", { classLabels: [1], noise: "pink" }, ["TypeError", "Expected one of 'philox', 'reference' for noise but received \"pink\""]],
];

describe("generate() refuses bad options before any native work", () => {
  for (const [what, options, expected] of GENERATE_CASES) {
    it(what, async () => {
      const before = memory().allocations;
      expect(await failure(() => pipe.generate(options as never))).toEqual(expected);
      expect(memory().allocations).toBe(before);
    });
  }

  it("an initImage with NaN / Infinity values", async () => {
    const init = Tensor.from(new Float32Array(3 * 32 * 32).fill(0.5).fill(NaN, 0, 5).fill(Infinity, 5, 7), [1, 3, 32, 32]);
    expect(await failure(() => pipe.generate({ classLabels: [1], initImage: init }))).toEqual(["RangeError", "Expected finite values for initImage but received 7 NaN or infinite values"]);
    init.dispose();
  });
});

describe("model.forward refuses bad inputs before any native work", () => {
  const x = (shape: number[], fill = 0) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape);
  const CASES: [string, () => Promise<unknown>, [string, string]][] = [
    ["a missing batch dimension", () => pipe.model.forward(x([3, 32, 32]), [1], [1]), ["RangeError", "Expected shape with 4 dimensions [B, C, H, W] for x but received [3, 32, 32]"]],
    ["wrong channels", () => pipe.model.forward(x([1, 4, 32, 32]), [1], [1]), ["RangeError", "Expected shape [B, 3, 32, 32] with B >= 1 for x but received [1, 4, 32, 32]"]],
    ["an empty batch", () => pipe.model.forward(x([0, 3, 32, 32]), [], []), ["RangeError", "Expected shape [B, 3, 32, 32] with B >= 1 for x but received [0, 3, 32, 32]"]],
    ["NaN input values", () => pipe.model.forward(x([1, 3, 32, 32], NaN), [1], [1]), ["RangeError", "Expected finite values for x but received 3072 NaN or infinite values"]],
    ["infinite input values", () => pipe.model.forward(x([2, 3, 32, 32], -Infinity), [1, 1], [1, 1]), ["RangeError", "Expected finite values for x but received 6144 NaN or infinite values"]],
    ["a NaN timestep", () => pipe.model.forward(x([1, 3, 32, 32]), [NaN], [1]), ["RangeError", "Expected finite number for t[0] but received NaN"]],
    ["an infinite timestep", () => pipe.model.forward(x([1, 3, 32, 32]), [Infinity], [1]), ["RangeError", "Expected finite number for t[0] but received Infinity"]],
    ["a label out of range", () => pipe.model.forward(x([1, 3, 32, 32]), [1], [11]), ["RangeError", `${labels} labels[0] but received 11`]],
    ["too few labels", () => pipe.model.forward(x([2, 3, 32, 32]), [1, 1], [1]), ["RangeError", "Expected 2 values (one per sample) for labels but received 1"]],
    ["a NaN CFG scale", () => pipe.model.forwardWithCfg(x([2, 3, 32, 32]), [1, 1], [1, 10], NaN), ["TypeError", "Expected finite number for scale but received NaN"]],
  ];
  for (const [what, run, expected] of CASES) {
    it(what, async () => {
      expect(await failure(run)).toEqual(expected);
    });
  }

  it("a NaN tensor scale and a NaN in a shape (synchronous throws)", () => {
    const t = Tensor.zeros([2]);
    expect(() => t.scale(NaN)).toThrow(new TypeError("Expected finite number for s but received NaN"));
    t.dispose();
    expect(() => Tensor.from(new Float32Array(4), [2, NaN])).toThrow(new TypeError("Expected array of non-negative integers for shape but received number[]"));
  });
});
