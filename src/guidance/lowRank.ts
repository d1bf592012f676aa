// A weak model derived from the checkpoint itself, for autoguidance (Karras et al. 2024, "Guiding a Diffusion Model
// with a Bad Version of Itself", arXiv 2406.02507): the paper's weak network is a smaller, shorter-trained model whose
// errors are the main model's, stronger. Without training, a lower-capacity copy of the same network comes closest:
// every linear map of the transformer blocks' attention and MLP truncated to its top singular directions (the best
// rank-r approximation, Eckart–Young), r = rankFraction · min(out, in). Unlike a skipped or scaled block (every glyph
// block is load-bearing: shared/fixtures/glyphs/baseline.json skip_sweep), the truncated copy still computes every
// block, with less capacity everywhere — what "a smaller model" means. adaLN modulation, norms, embeddings and the
// final layer are kept: they set the noise level and condition, which the weak model must share with the strong one.
//
// The truncation runs on the Gram matrix of the smaller side (W·Wᵀ when out ≤ in, else that of Wᵀ; Jacobi
// eigendecomposition, src/metrics/eigen.ts): W_r = U_r·U_rᵀ·W. The cost grows with width³ (the glyph
// DiT's 24 matrices: ~5 s on one core, one matrix at a time between event-loop turns); the result is an ordinary
// checkpoint (writeLowRankCheckpoint) that loads as any model and can be kept on disk and passed as a weakModel.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { abortError, rangeError, typeError } from "../errors.js";
import { weightsFile } from "../io/checkpointDType.js";
import { readSafetensors, toFloat32Array, writeSafetensors, type SafetensorsContent, type SafetensorsTensorInput } from "../io/safetensors.js";
import { symmetricEigen } from "../metrics/eigen.js";
import { loadModel, type Model } from "../model.js";

/** Whether a checkpoint key is a block's attention or MLP linear weight (official DiT and diffusers key layouts). */
export function isBlockLinearWeight(key: string): boolean {
  if (!/(^|\.)(blocks|transformer_blocks|single_transformer_blocks)\.\d+\./.test(key) || !key.endsWith(".weight")) return false;
  return !/(adaLN|norm|emb)/i.test(key);
}

/** The best rank-r approximation of the row-major out×in matrix w (float64 arithmetic, float32 result). */
export function truncateRank(w: Float32Array, out: number, inp: number, rank: number): Float32Array {
  if (w.length !== out * inp) throw rangeError(`${out * inp} values (${out}×${inp})`, "w.length", w.length);
  if (!Number.isSafeInteger(rank) || rank < 1) throw rangeError("positive integer", "rank", rank);
  if (rank >= Math.min(out, inp)) return Float32Array.from(w);
  // Work on the side with fewer rows: (Wᵀ)_r = (W_r)ᵀ, so a tall matrix is truncated as its transpose.
  return out <= inp ? truncateWide(w, out, inp, rank) : transpose(truncateWide(transpose(w, out, inp), inp, out, rank), inp, out);
}

function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = w[i * cols + j]!;
  return t;
}

/** truncateRank for rows ≤ cols: W_r = U_r·U_rᵀ·W, U_r = the top eigenvectors of the rows' Gram W·Wᵀ. */
function truncateWide(w: Float32Array, rows: number, cols: number, rank: number): Float32Array {
  const g = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) for (let j = i; j < rows; j++) {
    let s = 0;
    for (let k = 0; k < cols; k++) s += w[i * cols + k]! * w[j * cols + k]!;
    g[i * rows + j] = s; g[j * rows + i] = s;
  }
  const { vectors } = symmetricEigen(g, rows); // ascending: the top `rank` are the last columns
  // Projector P = U_r·U_rᵀ (rows × rows).
  const p = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) for (let j = i; j < rows; j++) {
    let s = 0;
    for (let k = rows - rank; k < rows; k++) s += vectors[i * rows + k]! * vectors[j * rows + k]!;
    p[i * rows + j] = s; p[j * rows + i] = s;
  }
  const result = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) {
    let s = 0;
    for (let j = 0; j < rows; j++) s += p[i * rows + j]! * w[j * cols + k]!;
    result[i * cols + k] = s;
  }
  return result;
}

/**
 * The checkpoint with every block linear weight truncated to rankFraction of its full rank (other tensors as they
 * are). One matrix at a time, yielding to the event loop in between (a 192-wide block matrix takes ~0.2 s) and
 * stopping with an AbortError when `signal` aborts.
 */
export async function lowRankContent(content: SafetensorsContent, rankFraction: number, options: { signal?: AbortSignal } = {}): Promise<SafetensorsContent> {
  checkRankFraction(rankFraction);
  const tensors = new Map(content.tensors);
  let changed = 0;
  for (const [key, t] of content.tensors) {
    if (t.shape.length !== 2 || !isBlockLinearWeight(key)) continue;
    await new Promise((resolve) => setImmediate(resolve));
    if (options.signal?.aborted) throw abortError("The operation was aborted", options.signal.reason);
    const [out, inp] = t.shape as [number, number];
    const rank = Math.max(1, Math.round(rankFraction * Math.min(out, inp)));
    tensors.set(key, { dtype: "F32", shape: [out, inp], data: truncateRank(toFloat32Array(t), out, inp, rank) });
    changed++;
  }
  if (changed === 0) throw new RangeError("The checkpoint has no transformer-block attention or MLP weights (blocks.N.… or transformer_blocks.N.…) to derive a low-rank weak model from");
  return { tensors, metadata: { ...content.metadata, ditto_low_rank_fraction: String(rankFraction) } };
}

export function checkRankFraction(rankFraction: unknown, name = "rankFraction"): number {
  if (typeof rankFraction !== "number" || !Number.isFinite(rankFraction)) throw typeError("finite number", name, rankFraction);
  if (rankFraction <= 0 || rankFraction >= 1) throw rangeError("number in (0, 1)", name, rankFraction);
  return rankFraction;
}

/**
 * Writes the low-rank copy of the model at `modelPath` (a model folder or its .safetensors file) into the folder
 * `outDir`: the truncated weights under the same file name, the folder's other files (configs) copied.
 */
export async function writeLowRankCheckpoint(modelPath: string, outDir: string, rankFraction: number, options: { signal?: AbortSignal } = {}): Promise<string> {
  checkRankFraction(rankFraction);
  const weights = weightsFile(modelPath, ["model.safetensors", "dit.safetensors"]);
  if (weights === undefined) throw rangeError("a model folder with one .safetensors file, or that file", "modelPath", modelPath);
  const content = await lowRankContent(readSafetensors(weights), rankFraction, options);
  const tensors: Record<string, SafetensorsTensorInput> = {};
  for (const [key, t] of content.tensors) tensors[key] = { dtype: t.dtype, shape: t.shape, data: t.data };
  writeSafetensors(path.join(outDir, path.basename(weights)), tensors, content.metadata);
  const dir = statSync(modelPath).isDirectory() ? modelPath : path.dirname(modelPath);
  for (const name of readdirSync(dir)) {
    const from = path.join(dir, name);
    if (name.endsWith(".json") && statSync(from).isFile()) copyFileSync(from, path.join(outDir, name));
  }
  return outDir;
}

/** Loads the low-rank copy of `model` (same dtype and device; derived through a temporary folder, removed after). */
export async function loadLowRankModel(model: Model, rankFraction: number, options: { threads?: number; signal?: AbortSignal } = {}): Promise<Model> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "ditto-low-rank-"));
  try {
    await writeLowRankCheckpoint(model.path, dir, rankFraction, { signal: options.signal });
    return await loadModel(dir, { dtype: model.dtype, device: model.device, ...(options.threads !== undefined ? { threads: options.threads } : {}) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
