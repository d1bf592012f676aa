// The native, off-thread batch pieces of the pipeline against their TypeScript references: batchNoiseTensor (Philox
// and the fixture's splitmix64 noise) bit-identical to batchNoise for many seeds (edge seeds, odd counts), and
// Image.fromTensor identical to Image.fromModelSpace (NaN, ±Inf, clamp and rounding edges, 1/3/4 channels).
import { describe, expect, it } from "vitest";

import { Image } from "../../src/images/image.js";
import { batchNoise, batchNoiseTensor, type NoiseKind } from "../../src/noise/index.js";
import { Tensor } from "../../src/tensor.js";

function bits(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function firstMismatch(a: Float32Array, b: Float32Array): number {
  const x = bits(a), y = bits(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

describe("batchNoiseTensor", () => {
  const edgeSeeds = [0, 1, 7, 42, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 53 - 1];
  for (const kind of ["philox", "reference"] as NoiseKind[]) {
    it(`${kind}: bit-identical to the TypeScript generator, sample by sample`, async () => {
      for (const shape of [[1], [3, 7, 5], [3, 32, 32]]) {
        const count = shape.reduce((a, b) => a * b, 1);
        const seeds = [...edgeSeeds, ...Array.from({ length: 40 }, (_, i) => 1000 + 7919 * i)];
        const tensor = await batchNoiseTensor(kind, seeds, shape);
        expect(tensor.shape).toEqual([seeds.length, ...shape]);
        const got = tensor.toFloat32Array();
        tensor.dispose();
        const want = batchNoise(kind, seeds, count);
        expect(firstMismatch(got, want)).toBe(-1);
      }
    });
  }

  it("accepts bigint seeds up to 2^64 - 1 and rejects invalid seeds before any work", async () => {
    const big = (1n << 64n) - 1n;
    const tensor = await batchNoiseTensor("philox", [big], [9]);
    const { philoxGaussian } = await import("../../src/noise/index.js");
    expect(firstMismatch(tensor.toFloat32Array(), philoxGaussian(big, 9))).toBe(-1);
    tensor.dispose();
    await expect(batchNoiseTensor("philox", [-1], [4])).rejects.toThrow("Expected non-negative safe integer for seed but received -1");
    await expect(batchNoiseTensor("reference", [1.5], [4])).rejects.toThrow(RangeError);
    await expect(batchNoiseTensor("philox", [1], [-1, -3])).rejects.toThrow("Expected array of non-negative integers for sampleShape");
  });
});

describe("Image.fromTensor", () => {
  const specials = [-1, 1, 0, NaN, Infinity, -Infinity, 1.0039216, -1.0039216, 0.99607843, -0.0000001, 2 / 255 - 1];

  for (const channels of [1, 3, 4]) {
    it(`matches fromModelSpace for ${channels} channel(s) on odd sizes`, async () => {
      const shape = [3, channels, 5, 7];
      const n = shape.reduce((a, b) => a * b, 1);
      let s = 12345 + channels;
      const values = Float32Array.from({ length: n }, (_, i) => {
        if (i < specials.length) return specials[i]!;
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        return (s / 2 ** 32) * 2.4 - 1.2;
      });
      const tensor = Tensor.from(values, shape);
      const got = await Image.fromTensor(tensor);
      tensor.dispose();
      const want = Image.fromModelSpace(values, shape);
      expect(got.length).toBe(3);
      got.forEach((img, k) => {
        expect([img.width, img.height, img.channels]).toEqual([7, 5, channels]);
        expect(Array.from(img.data)).toEqual(Array.from(want[k]!.data));
      });
    });
  }

  it("keeps the tensor's data alive when it is disposed during the conversion", async () => {
    const values = Float32Array.from({ length: 2 * 3 * 4 * 4 }, (_, i) => (i % 17) / 8 - 1);
    const tensor = Tensor.from(values, [2, 3, 4, 4]);
    const pending = Image.fromTensor(tensor);
    tensor.dispose();
    const got = await pending;
    expect(Array.from(got[1]!.data)).toEqual(Array.from(Image.fromModelSpace(values, [2, 3, 4, 4])[1]!.data));
  });

  it("rejects what is not an image batch", async () => {
    const flat = Tensor.zeros([2, 3]);
    await expect(Image.fromTensor(flat)).rejects.toThrow("Expected shape with 4 dimensions [N, C, H, W] for x.shape but received [2, 3]");
    flat.dispose();
    await expect(Image.fromTensor(new Float32Array(4) as unknown as Tensor)).rejects.toThrow(TypeError);
  });
});
