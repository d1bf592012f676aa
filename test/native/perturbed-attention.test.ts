// A perturbed-attention block (PAG / STG-A: self-attention output replaced by V, docs/guidance.md) against a
// reference computed here in float64 from the checkpoint's weights: the block's input and its adaLN modulation are
// captured from an unperturbed forward (blocks before it are unchanged), then the block runs with V as the attention
// output, the later block is skipped (identity) and the final layer (adaLN, linear, DiT's unpatchify) gives the
// image-space output the engine must match. The branch runs in one session step next to an unperturbed conditional
// branch whose output stays the plain forward's, bit for bit (the two share blocks 0…i−1).
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { readSafetensors } from "../../src/io/safetensors.js";
import { loadModel, type Model } from "../../src/model.js";
import type { SessionBlockAction } from "../../src/session.js";
import { Tensor } from "../../src/tensor.js";

const DIR = new URL("../../examples/models/glyphs", import.meta.url).pathname;
let model: Model;
let weights: Map<string, Float32Array>;
beforeAll(async () => {
  model = await loadModel(DIR, { threads: 2 });
  weights = new Map([...readSafetensors(`${DIR}/dit.safetensors`).tensors].map(([k, t]) => [k, t.data as Float32Array]));
});
afterAll(() => model?.dispose());

function w(name: string): Float32Array {
  const v = weights.get(name);
  if (!v) throw new Error(`no tensor ${name}`);
  return v;
}

/** y[t, o] = Σ_i x[t, i]·W[o, i] + b[o] (PyTorch Linear), float64. */
function linear(x: Float64Array, rows: number, inF: number, W: Float32Array, b: Float32Array): Float64Array {
  const outF = b.length;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) for (let o = 0; o < outF; o++) {
    let s = b[o]!;
    for (let i = 0; i < inF; i++) s += x[r * inF + i]! * W[o * inF + i]!;
    y[r * outF + o] = s;
  }
  return y;
}

/** LayerNorm without affine (eps 1e-6), then x·(1 + scale) + shift per channel. */
function modulate(h: Float64Array, rows: number, d: number, shift: ArrayLike<number>, scale: ArrayLike<number>): Float64Array {
  const y = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    let mean = 0, varSum = 0;
    for (let i = 0; i < d; i++) mean += h[r * d + i]!;
    mean /= d;
    for (let i = 0; i < d; i++) varSum += (h[r * d + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(varSum / d + 1e-6);
    for (let i = 0; i < d; i++) y[r * d + i] = (h[r * d + i]! - mean) * inv * (1 + scale[i]!) + shift[i]!;
  }
  return y;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

describe("perturbed attention", () => {
  it("a block with self-attention output = V equals the float64 reference; the shared conditional branch keeps its bits", async () => {
    const { depth, inputSize: size, inChannels: C } = model.config;
    const D = Number(model.config.hidden_size ?? 192), p = Number(model.config.patch_size ?? 4);
    const T = (size / p) ** 2, block = depth - 2;
    let s = 12345;
    const x = Tensor.from(Float32Array.from({ length: C * size * size }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1), [1, C, size, size]);
    const t = [640], y = [7];
    const plain = await model.forwardDetailed(x, t, y, { capture: true });
    const cap = (name: string) => { const v = plain.intermediates[name]; if (!v) throw new Error(`no capture ${name}`); return v.toFloat32Array(); };
    const h = Float64Array.from(cap(`blocks.${block - 1}.out`));
    const ada = cap(`blocks.${block}.adaLN`), fin = cap("final_layer.adaLN");
    const chunk = (a: Float32Array, k: number) => a.subarray(k * D, (k + 1) * D);
    // Attention branch: qkv, keep V (columns 2D…3D), project, gate.
    const pre = `blocks.${block}`;
    const qkv = linear(modulate(h, T, D, chunk(ada, 0), chunk(ada, 1)), T, D, w(`${pre}.attn.qkv.weight`), w(`${pre}.attn.qkv.bias`));
    const v = Float64Array.from({ length: T * D }, (_, k) => qkv[Math.floor(k / D) * 3 * D + 2 * D + (k % D)]!);
    const attn = linear(v, T, D, w(`${pre}.attn.proj.weight`), w(`${pre}.attn.proj.bias`));
    for (let k = 0; k < T * D; k++) h[k] += ada[2 * D + (k % D)]! * attn[k]!;
    const hidden = linear(modulate(h, T, D, chunk(ada, 3), chunk(ada, 4)), T, D, w(`${pre}.mlp.fc1.weight`), w(`${pre}.mlp.fc1.bias`)).map(gelu);
    const mlp = linear(hidden, T, hidden.length / T, w(`${pre}.mlp.fc2.weight`), w(`${pre}.mlp.fc2.bias`));
    for (let k = 0; k < T * D; k++) h[k] += ada[5 * D + (k % D)]! * mlp[k]!;
    // Block depth−1 skipped; final layer and DiT's unpatchify (nhwpqc → nchpwq).
    const tokens = linear(modulate(h, T, D, chunk(fin, 0), chunk(fin, 1)), T, D, w("final_layer.linear.weight"), w("final_layer.linear.bias"));
    const outC = tokens.length / T / (p * p), g = size / p;
    const reference = new Float64Array(outC * size * size);
    for (let hh = 0; hh < g; hh++) for (let ww = 0; ww < g; ww++) for (let pp = 0; pp < p; pp++) for (let qq = 0; qq < p; qq++) for (let c = 0; c < outC; c++) {
      reference[c * size * size + (hh * p + pp) * size + ww * p + qq] = tokens[(hh * g + ww) * p * p * outC + (pp * p + qq) * outC + c]!;
    }

    const actions: SessionBlockAction[] = Array.from({ length: depth }, (_, i) => ({ kind: i === block ? "perturbAttention" : i > block ? "skip" : "compute" }));
    const session = model.session();
    try {
      const r = await session.step(x, t, { branches: [{ key: "cond", labels: y }, { key: "pag", labels: y, actions }] });
      const engine = r.branchOutputs[1]!.toFloat32Array();
      let worst = 0;
      for (let k = 0; k < reference.length; k++) worst = Math.max(worst, Math.abs(engine[k]! - reference[k]!));
      expect(worst).toBeLessThan(1e-4);
      expect(r.branchOutputs[0]!.toFloat32Array()).toEqual(plain.out.toFloat32Array());
      // And the perturbation matters: the unperturbed block would give a different output.
      const unperturbed = plain.out.toFloat32Array();
      let moved = 0;
      for (let k = 0; k < reference.length; k++) moved = Math.max(moved, Math.abs(engine[k]! - unperturbed[k]!));
      expect(moved).toBeGreaterThan(1e-2);
      for (const o of r.branchOutputs) o.dispose();
    } finally {
      session.dispose();
      x.dispose();
      plain.out.dispose();
      for (const v2 of Object.values(plain.intermediates)) v2.dispose();
    }
  });
});
