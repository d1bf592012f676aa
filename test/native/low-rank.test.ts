// The low-rank weak model (src/guidance/lowRank.ts; the native truncation, ditto/low_rank.h) against simple references
// on odd-sized random matrices: it equals the Gram + cyclic-Jacobi projection written out here, keeps exactly the top
// singular directions (Eckart–Young: the Frobenius error is the dropped singular values), is idempotent, leaves a
// full-rank request unchanged, and only block attention / MLP weights change.
import { describe, expect, it } from "vitest";

import { isBlockLinearWeight, lowRankContent, truncateRank } from "../../src/guidance/lowRank.js";
import type { SafetensorsContent } from "../../src/io/safetensors.js";
import { symmetricEigen } from "../../src/metrics/eigen.js";
import { referenceGaussian } from "../../src/noise/index.js";

/** Singular values (descending) of a row-major m×n matrix, from the eigenvalues of its n×n Gram. */
function singularValues(w: ArrayLike<number>, m: number, n: number): number[] {
  const g = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += w[k * n + i]! * w[k * n + j]!;
    g[i * n + j] = s;
  }
  return Array.from(symmetricEigen(g, n).values, (v) => Math.sqrt(Math.max(v, 0))).reverse();
}

/** The reference truncation: U_r·U_rᵀ·W with U_r the top eigenvectors of the rows' Gram W·Wᵀ (Jacobi, float64). */
function referenceTruncate(w: Float32Array, m: number, n: number, r: number): Float64Array {
  const g = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += w[i * n + k]! * w[j * n + k]!;
    g[i * m + j] = s;
  }
  const { vectors } = symmetricEigen(g, m);
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
    let p = 0;
    for (let k = m - r; k < m; k++) p += vectors[i * m + k]! * vectors[j * m + k]!;
    for (let c = 0; c < n; c++) out[i * n + c] += p * w[j * n + c]!;
  }
  return out;
}

function transpose(w: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j]!;
  return t;
}

function frobenius(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

describe("truncateRank", () => {
  for (const [m, n, r] of [[7, 11, 3], [13, 5, 2], [9, 9, 4], [33, 70, 25], [61, 17, 5]] as const) {
    it(`${m}×${n} at rank ${r}: the reference projection, the Eckart–Young error, rank r, idempotent`, async () => {
      const w = Float32Array.from(referenceGaussian(m * 100 + n, m * n));
      const full = singularValues(w, m, n);
      const wr = await truncateRank(w, m, n, r);
      // A tall matrix against the reference on its transpose: (Wᵀ)_r = (W_r)ᵀ.
      const ref = m <= n ? referenceTruncate(w, m, n, r) : transpose(referenceTruncate(Float32Array.from(transpose(w, m, n)), n, m, r), n, m);
      expect(frobenius(wr, ref)).toBeLessThan(1e-4);
      const dropped = Math.sqrt(full.slice(r).reduce((a, s) => a + s * s, 0));
      expect(frobenius(w, wr)).toBeCloseTo(dropped, 4);
      const kept = singularValues(wr, m, n);
      for (let i = 0; i < r; i++) expect(kept[i]).toBeCloseTo(full[i]!, 4);
      for (let i = r; i < kept.length; i++) expect(kept[i]).toBeLessThan(1e-3);
      expect(frobenius(await truncateRank(wr, m, n, r), wr)).toBeLessThan(1e-4);
    });
  }

  it("keeps a full-rank request as it is and refuses bad arguments", async () => {
    const w = Float32Array.from(referenceGaussian(3, 15));
    expect(await truncateRank(w, 3, 5, 3)).toEqual(w);
    await expect(truncateRank(w, 3, 5, 0)).rejects.toThrow("Expected positive integer for rank but received 0");
    await expect(truncateRank(w, 5, 5, 2)).rejects.toThrow("Expected 25 values (5×5) for w.length but received 15");
    await expect(truncateRank(w, 0, 5, 2)).rejects.toThrow("Expected positive integer for out but received 0");
    await expect(truncateRank(Array.from(w) as never, 3, 5, 2)).rejects.toThrow(TypeError);
  });
});

describe("lowRankContent", () => {
  it("truncates the blocks' attention and MLP weights of both key layouts, nothing else", async () => {
    expect(["blocks.0.attn.qkv.weight", "blocks.11.mlp.fc2.weight", "transformer_blocks.3.attn1.to_q.weight", "transformer_blocks.0.ff.net.2.weight"].every(isBlockLinearWeight)).toBe(true);
    expect(["blocks.0.adaLN_modulation.1.weight", "blocks.0.attn.qkv.bias", "x_embedder.proj.weight", "final_layer.linear.weight", "transformer_blocks.0.norm1.linear.weight", "transformer_blocks.0.norm1.emb.class_embedder.embedding_table.weight"].some(isBlockLinearWeight)).toBe(false);
    const t = (seed: number, shape: number[]) => ({ dtype: "F32" as const, shape, data: Float32Array.from(referenceGaussian(seed, shape[0]! * (shape[1] ?? 1))) });
    const content: SafetensorsContent = {
      tensors: new Map([["blocks.0.mlp.fc1.weight", t(1, [8, 6])], ["blocks.0.adaLN_modulation.1.weight", t(2, [12, 6])], ["blocks.0.mlp.fc1.bias", t(3, [8])]]),
      metadata: { format: "pt" },
    };
    const low = await lowRankContent(content, 0.5);
    expect(low.metadata).toEqual({ format: "pt", ditto_low_rank_fraction: "0.5" });
    expect(singularValues(low.tensors.get("blocks.0.mlp.fc1.weight")!.data as Float32Array, 8, 6)[3]).toBeLessThan(1e-3);
    expect(low.tensors.get("blocks.0.adaLN_modulation.1.weight")).toBe(content.tensors.get("blocks.0.adaLN_modulation.1.weight"));
    expect(low.tensors.get("blocks.0.mlp.fc1.bias")).toBe(content.tensors.get("blocks.0.mlp.fc1.bias"));
    await expect(lowRankContent(content, 1)).rejects.toThrow("Expected number in (0, 1) for rankFraction but received 1");
    const aborted = new AbortController();
    aborted.abort();
    await expect(lowRankContent(content, 0.5, { signal: aborted.signal })).rejects.toMatchObject({ name: "AbortError" });
    await expect(lowRankContent({ tensors: new Map([["x.weight", t(4, [3, 3])]]), metadata: {} }, 0.5))
      .rejects.toThrow(new RangeError("The checkpoint has no transformer-block attention or MLP weights (blocks.N.… or transformer_blocks.N.…) to derive a low-rank weak model from"));
  });
});
