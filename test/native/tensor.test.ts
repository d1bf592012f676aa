// Native Tensor ops against plain float32 JS references on random, odd-sized, non-zero inputs; argument errors;
// dispose. (The reference for each op is the float32-rounded formula the kernels document.)
import { describe, expect, it } from "vitest";

import { DittoError } from "../../src/errors.js";
import { Tensor } from "../../src/tensor.js";

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 4 - 2 + 0.01;
  });
}

function maxDiff(a: Float32Array, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const f = Math.fround;
const shape = [3, 5, 7, 11]; // 1155 elements: odd, not a multiple of any vector width
const n = 3 * 5 * 7 * 11;

describe("Tensor", () => {
  const xa = random(n, 1);
  const xb = random(n, 2);
  const a = Tensor.from(xa, shape);
  const b = Tensor.from(xb, shape);

  it("round-trips data and shape, copies on from()", () => {
    const copy = xa.slice();
    const t = Tensor.from(copy, shape);
    copy[0] = 1234;
    expect(t.shape).toEqual(shape);
    expect(t.size).toBe(n);
    expect(t.ndim).toBe(4);
    expect(t.toFloat32Array()).toEqual(xa);
    expect(Tensor.zeros([2, 3]).toFloat32Array()).toEqual(new Float32Array(6));
  });

  it("add / sub / mul / scale / lerp match float32 references", () => {
    expect(maxDiff(a.add(b).toFloat32Array(), Array.from(xa, (v, i) => f(v + xb[i]!)))).toBe(0);
    expect(maxDiff(a.sub(b).toFloat32Array(), Array.from(xa, (v, i) => f(v - xb[i]!)))).toBe(0);
    expect(maxDiff(a.mul(b).toFloat32Array(), Array.from(xa, (v, i) => f(v * xb[i]!)))).toBe(0);
    expect(maxDiff(a.scale(0.3).toFloat32Array(), Array.from(xa, (v) => f(v * f(0.3))))).toBe(0);
    const lerp = a.lerp(b, 0.25).toFloat32Array();
    expect(maxDiff(lerp, Array.from(xa, (v, i) => v + 0.25 * (xb[i]! - v)))).toBeLessThan(1e-6);
  });

  it("combine sums c_j·t_j left to right (also past 8 terms)", () => {
    const terms = Array.from({ length: 11 }, (_, j) => [0.1 * (j + 1) - 0.45, j % 2 ? a : b] as [number, Tensor]);
    const got = Tensor.combine(terms).toFloat32Array();
    const ref = new Float64Array(n);
    for (const [c, t] of terms) {
      const v = t === a ? xa : xb;
      for (let i = 0; i < n; i++) ref[i] += c * v[i]!;
    }
    expect(maxDiff(got, ref)).toBeLessThan(1e-5);
    expect(maxDiff(Tensor.combine([[2, a]]).toFloat32Array(), Array.from(xa, (v) => 2 * v))).toBe(0);
  });

  it("reshape, slice (dim 0, copy), concat, clone", () => {
    expect(a.reshape([15, 77]).shape).toEqual([15, 77]);
    expect(a.reshape([15, 77]).toFloat32Array()).toEqual(xa);
    const s = a.slice(1, 3);
    expect(s.shape).toEqual([2, 5, 7, 11]);
    expect(s.toFloat32Array()).toEqual(xa.subarray(385, 3 * 385));
    const c = Tensor.concat([a.slice(0, 1), b, a.slice(2)]);
    expect(c.shape).toEqual([5, 5, 7, 11]);
    expect(c.toFloat32Array()).toEqual(Float32Array.from([...xa.subarray(0, 385), ...xb, ...xa.subarray(770)]));
    const k = a.clone();
    k.dispose();
    expect(a.toFloat32Array()).toEqual(xa);
  });

  it("rejects bad arguments with exact messages", () => {
    expect(() => Tensor.from([1, 2] as unknown as Float32Array, [2])).toThrow(new TypeError("Expected Float32Array for data but received number[]"));
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(new RangeError("Expected data of length 6 for shape [2, 3] but received length 5"));
    expect(() => Tensor.zeros([2, -1])).toThrow(new TypeError("Expected array of non-negative integers for shape but received number[]"));
    expect(() => a.add(Tensor.zeros([2]))).toThrow(new RangeError("Expected shape [3, 5, 7, 11] for other but received [2]"));
    expect(() => a.reshape([4, 4])).toThrow(RangeError);
    expect(() => a.slice(2, 9)).toThrow(new RangeError("Expected integer between 2 and 3 for end but received 9"));
    expect(() => a.scale(NaN)).toThrow(new TypeError("Expected finite number for s but received NaN"));
    expect(() => Tensor.concat([a, Tensor.zeros([1, 2])])).toThrow("Expected shape [1, 5, 7, 11] for tensors[1] but received [1, 2]");
  });

  it("throws ERR_DISPOSED after dispose (idempotent)", () => {
    const t = Tensor.from(random(7, 3), [7]);
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    let caught: unknown;
    try {
      t.toFloat32Array();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DittoError);
    expect((caught as DittoError).code).toBe("ERR_DISPOSED");
    const same = Tensor.zeros(shape);
    same.dispose();
    expect(() => a.add(same)).toThrow("Tensor (other) has been disposed");
  });
});
