// Metrics against naive references on random, odd-sized inputs: the Jacobi eigensolver (reconstruction and
// orthogonality), the symmetric square root, FD (closed forms), PSNR, SSIM (a direct 2-D window sum), accuracy.
import { describe, expect, it } from "vitest";

import {
  accuracy, batchFidelity, featureStats, frechetDistance, matMul, psnr, ssim, symmetricEigen, symmetricSqrt,
} from "../../src/metrics/index.js";
import { toUint8NHWC, uint8ToUnitRange } from "../../src/images/quantize.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function randomSymmetric(n: number, seed: number, psd: boolean): Float64Array {
  const r = rng(seed);
  const b = Float64Array.from({ length: n * n }, () => r() * 2 - 1);
  if (psd) { // B·Bᵀ, rank-deficient when some rows are zero
    const bt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) bt[j * n + i] = b[i * n + j]!;
    return matMul(b, bt, n);
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j]! + b[j * n + i]!;
  return a;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("symmetricEigen (Jacobi)", () => {
  for (const n of [1, 2, 7, 33]) {
    it(`reconstructs a random indefinite ${n}×${n} matrix`, () => {
      const a = randomSymmetric(n, 17 + n, false);
      const { values, vectors } = symmetricEigen(a, n);
      const rebuilt = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += vectors[i * n + k]! * values[k]! * vectors[j * n + k]!;
        rebuilt[i * n + j] = s;
      }
      expect(maxAbsDiff(rebuilt, a)).toBeLessThan(1e-12 * n);
      const vtv = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += vectors[k * n + i]! * vectors[k * n + j]!;
        vtv[i * n + j] = s - (i === j ? 1 : 0);
      }
      expect(maxAbsDiff(vtv, new Float64Array(n * n))).toBeLessThan(1e-12 * n);
      for (let k = 1; k < n; k++) expect(values[k]!).toBeGreaterThanOrEqual(values[k - 1]!);
      let trace = 0;
      for (let i = 0; i < n; i++) trace += a[i * n + i]!;
      expect(values.reduce((s, v) => s + v, 0)).toBeCloseTo(trace, 10);
    });
  }

  it("finds the known spectrum of a 2×2 matrix", () => {
    const { values } = symmetricEigen([2, 1, 1, 2], 2);
    expect(values[0]).toBeCloseTo(1, 14);
    expect(values[1]).toBeCloseTo(3, 14);
  });

  it("square root squares back to a PSD matrix", () => {
    const n = 21;
    const a = randomSymmetric(n, 5, true);
    const root = symmetricSqrt(a, n);
    expect(maxAbsDiff(matMul(root, root, n), a)).toBeLessThan(1e-11);
    expect(maxAbsDiff(root, Float64Array.from({ length: n * n }, (_, i) => root[(i % n) * n + Math.floor(i / n)]!))).toBeLessThan(1e-13);
  });
});

describe("frechetDistance", () => {
  it("is 0 between identical statistics and matches the 1-D closed form", () => {
    const r = rng(3);
    const feats = Float64Array.from({ length: 41 * 5 }, () => r());
    const s = featureStats(feats, 41, 5);
    expect(Math.abs(frechetDistance(s, s))).toBeLessThan(1e-12);
    // 1-D: (μ1 − μ2)² + (σ1 − σ2)².
    const a = { dim: 1, mu: Float64Array.of(0.3), sigma: Float64Array.of(4) };
    const b = { dim: 1, mu: Float64Array.of(-0.2), sigma: Float64Array.of(0.25) };
    expect(frechetDistance(a, b)).toBeCloseTo(0.25 + (2 - 0.5) ** 2, 12);
  });

  it("matches the commuting (diagonal) closed form Σ (√a − √b)²", () => {
    const n = 9;
    const r = rng(11);
    const da = Array.from({ length: n }, () => r() * 3), db = Array.from({ length: n }, () => r() * 3);
    const sa = new Float64Array(n * n), sb = new Float64Array(n * n);
    da.forEach((v, i) => { sa[i * n + i] = v; }); db.forEach((v, i) => { sb[i * n + i] = v; });
    const mu = new Float64Array(n);
    const expected = da.reduce((s, v, i) => s + (Math.sqrt(v) - Math.sqrt(db[i]!)) ** 2, 0);
    expect(frechetDistance({ dim: n, mu, sigma: sa }, { dim: n, mu, sigma: sb })).toBeCloseTo(expected, 12);
  });

  it("computes the ddof = 1 covariance", () => {
    const s = featureStats([1, 2, 3, 4, 5, 9], 3, 2); // rows (1,2) (3,4) (5,9)
    expect([...s.mu]).toEqual([3, 5]);
    expect([...s.sigma]).toEqual([4, 7, 7, 13]);
  });
});

/** SSIM straight from the definition: a 2-D Gaussian window at every valid position. */
function naiveSsim(a: Uint8Array, b: Uint8Array, h: number, w: number, c: number): number {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / 4.5));
  const gs = g.reduce((s, v) => s + v, 0);
  const c1 = (0.01 * 255) ** 2, c2 = (0.03 * 255) ** 2;
  let total = 0, count = 0;
  for (let ch = 0; ch < c; ch++) for (let y = 5; y < h - 5; y++) for (let x = 5; x < w - 5; x++) {
    let mx = 0, my = 0, mxx = 0, myy = 0, mxy = 0;
    for (let dy = -5; dy <= 5; dy++) for (let dx = -5; dx <= 5; dx++) {
      const wgt = (g[dy + 5]! / gs) * (g[dx + 5]! / gs);
      const va = a[((y + dy) * w + x + dx) * c + ch]!, vb = b[((y + dy) * w + x + dx) * c + ch]!;
      mx += wgt * va; my += wgt * vb; mxx += wgt * va * va; myy += wgt * vb * vb; mxy += wgt * va * vb;
    }
    total += ((2 * mx * my + c1) * (2 * (mxy - mx * my) + c2)) /
      ((mx * mx + my * my + c1) * (mxx - mx * mx + myy - my * my + c2));
    count++;
  }
  return total / count;
}

describe("PSNR / SSIM", () => {
  const h = 17, w = 23, c = 3;
  const r = rng(99);
  const a = Uint8Array.from({ length: h * w * c }, () => Math.floor(r() * 256));
  const b = a.map((v) => Math.min(255, Math.max(0, v + Math.round((r() - 0.5) * 40))));

  it("PSNR follows 10·log10(255²/MSE) and is 100 dB for identical images", () => {
    let se = 0;
    for (let i = 0; i < a.length; i++) se += (a[i]! - b[i]!) ** 2;
    expect(psnr(a, b)).toBeCloseTo(10 * Math.log10(255 ** 2 / (se / a.length)), 12);
    expect(psnr(a, a)).toBe(100);
  });

  it("SSIM matches a direct 2-D window sum on odd-sized images", () => {
    expect(ssim(a, b, { height: h, width: w, channels: c })).toBeCloseTo(naiveSsim(a, b, h, w, c), 12);
    expect(ssim(a, a, { height: h, width: w, channels: c })).toBeCloseTo(1, 14);
    expect(ssim(a, b, { height: h, width: w, channels: c })).toBeLessThan(0.99);
  });

  it("averages over a batch", () => {
    const both = batchFidelity(Uint8Array.from([...a, ...a]), Uint8Array.from([...a, ...b]), 2, { height: h, width: w, channels: c });
    expect(both.psnr).toBeCloseTo((100 + psnr(a, b)) / 2, 12);
    expect(both.ssim).toBeCloseTo((1 + naiveSsim(a, b, h, w, c)) / 2, 12);
  });

  it("rejects images too small for the window", () => {
    expect(() => ssim(new Uint8Array(30), new Uint8Array(30), { height: 10, width: 1, channels: 3 }))
      .toThrow("Expected images larger than 10×10 for SSIM but received 10×1");
  });
});

describe("accuracy and quantisation", () => {
  it("counts argmax hits", () => {
    const logits = Float32Array.of(0, 2, 1, /**/ 5, 1, 0, /**/ 0, 0, 3);
    expect(accuracy(logits, 3, [1, 0, 1])).toBeCloseTo(2 / 3, 12);
  });

  it("quantises as trunc(clamp(127.5·x + 128)) NCHW → NHWC and back as u8/127.5 − 1", () => {
    const x = Float32Array.of(-2, -1, 0, 0.999, 1, 7, -0.0039, 0.5); // [1, 2, 2, 2]
    const u8 = toUint8NHWC(x, 1, 2, 2, 2);
    // channel 0 = (-2, -1, 0, 0.999), channel 1 = (1, 7, -0.0039, 0.5), interleaved per pixel.
    expect([...u8]).toEqual([0, 255, 0, 255, 128, 127, 255, 191]);
    const back = uint8ToUnitRange(u8, 1, 2, 2, 2);
    expect(back[0]).toBe(-1);
    expect(back[2 * 2 + 0]).toBe(1); // channel 1, pixel 0 = 255
    expect(back[3]).toBe(Math.fround(Math.fround(255 / 127.5) - 1));
  });
});
