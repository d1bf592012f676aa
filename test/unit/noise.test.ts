// Noise generators: Philox4x32-10 against Random123's known-answer vectors, batch independence, moments; the
// fixture's splitmix64 reference noise against a BigInt reference port and bit-exactly against reference-io.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { readSafetensors } from "../../src/io/safetensors.js";
import { batchNoise, philox4x32, philoxGaussian, referenceGaussian } from "../../src/noise/index.js";

const FIXTURE = new URL("../../../shared/fixtures/glyphs/", import.meta.url).pathname;

/** Naive BigInt splitmix64 + Box–Muller, written straight from the fixture README. */
function bigintReferenceGaussian(seed: bigint, n: number): Float32Array {
  const mask = (1n << 64n) - 1n;
  const mix = (z: bigint): bigint => {
    z = (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n & mask;
    z = (z ^ (z >> 27n)) * 0x94d049bb133111ebn & mask;
    return z ^ (z >> 31n);
  };
  const u: number[] = [];
  for (let i = 1; i <= n + (n % 2); i++) u.push(Number(mix((seed + BigInt(i) * 0x9e3779b97f4a7c15n) & mask) >> 11n) * 2 ** -53);
  const out = new Float32Array(n);
  for (let m = 0; 2 * m < n; m++) {
    const rho = Math.sqrt(-2 * Math.log(1 - u[2 * m]!));
    out[2 * m] = rho * Math.cos(2 * Math.PI * u[2 * m + 1]!);
    if (2 * m + 1 < n) out[2 * m + 1] = rho * Math.sin(2 * Math.PI * u[2 * m + 1]!);
  }
  return out;
}

describe("philox4x32-10", () => {
  it("matches the Random123 known-answer vectors", () => {
    const out = new Uint32Array(4);
    const hex = () => [...out].map((w) => w.toString(16).padStart(8, "0"));
    philox4x32([0, 0, 0, 0], 0, 0, out);
    expect(hex()).toEqual(["6627e8d5", "e169c58d", "bc57ac4c", "9b00dbd8"]);
    philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], 0xffffffff, 0xffffffff, out);
    expect(hex()).toEqual(["408f276d", "41c83b0e", "a20bc7c6", "6d5451fd"]);
    philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], 0xa4093822, 0x299f31d0, out);
    expect(hex()).toEqual(["d16cfe09", "94fdcceb", "5001e420", "24126ea1"]);
  });

  it("gives each sample noise that depends only on its seed", () => {
    const alone = philoxGaussian(42, 3 * 7 * 5);
    const batch = batchNoise("philox", [7, 42, 9], 3 * 7 * 5);
    expect(batch.subarray(105, 210)).toEqual(alone);
    expect(philoxGaussian(43, 105)).not.toEqual(alone);
    expect(philoxGaussian(42, 51)).toEqual(alone.subarray(0, 51)); // odd counts are prefixes
    expect(philoxGaussian(2 ** 40 + 5, 8)).not.toEqual(philoxGaussian(5, 8)); // the high key word is used
    expect(philoxGaussian(2n ** 40n + 5n, 8)).toEqual(philoxGaussian(2 ** 40 + 5, 8));
  });

  it("is standard normal", () => {
    const z = philoxGaussian(123, 200_001);
    let mean = 0, sq = 0, inside = 0;
    for (const v of z) { mean += v; sq += v * v; if (Math.abs(v) < 1) inside++; }
    mean /= z.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(sq / z.length - 1)).toBeLessThan(0.01);
    expect(Math.abs(inside / z.length - 0.6827)).toBeLessThan(0.005);
  });

  it("rejects seeds that are not non-negative integers", () => {
    expect(() => philoxGaussian(-1, 4)).toThrow("Expected non-negative safe integer for seed but received -1");
    expect(() => philoxGaussian(1.5, 4)).toThrow(RangeError);
  });
});

describe("reference (splitmix64) noise", () => {
  it("matches a BigInt port of the README's definition", () => {
    for (const seed of [0, 1, 12345, 2 ** 33 + 7, Number.MAX_SAFE_INTEGER]) {
      expect(referenceGaussian(seed, 257)).toEqual(bigintReferenceGaussian(BigInt(seed), 257));
    }
    expect(referenceGaussian(2n ** 64n - 3n, 6)).toEqual(bigintReferenceGaussian(2n ** 64n - 3n, 6));
  });

  it.skipIf(!existsSync(FIXTURE))("reproduces reference-io noise.k0 and noise.k999 bit for bit", () => {
    const io = readSafetensors(`${FIXTURE}reference-io.safetensors`);
    expect(referenceGaussian(12345, 3072)).toEqual(io.tensors.get("noise.k0")!.data);
    expect(referenceGaussian(12345 + 999, 3072)).toEqual(io.tensors.get("noise.k999")!.data);
  });
});
