// A weak model derived from the checkpoint itself, for autoguidance (Karras et al. 2024, "Guiding a Diffusion Model
// with a Bad Version of Itself", arXiv 2406.02507): the paper's weak network is a smaller, shorter-trained model whose
// errors are the main model's, stronger. Without training, a lower-capacity copy of the same network comes closest:
// every linear map of the transformer blocks' attention and MLP truncated to its top singular directions (the best
// rank-r approximation, Eckart–Young), r = rankFraction · min(out, in). Unlike a skipped or scaled block (every glyph
// block is load-bearing: shared/fixtures/glyphs/baseline.json skip_sweep), the truncated copy still computes every
// block, with less capacity everywhere — what "a smaller model" means. adaLN modulation, norms, embeddings and the
// final layer are kept: they set the noise level and condition, which the weak model must share with the strong one.
//
// The truncation runs natively off the JS thread (ditto/low_rank.h: the Gram matrix of the shorter side, Householder
// tridiagonalisation + implicit QL in float64, W_r = U_r·U_rᵀ·W), several matrices at once on libuv's pool: ~0.2 s for
// the glyph DiT's 24 matrices, ~3 s for one 1152×1152 (DiT-XL) matrix on one core. The result is an ordinary
// checkpoint (writeLowRankCheckpoint) that loads as any model and can be kept on disk and passed as a weakModel.
import { copyFileSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { abortError, rangeError, typeError } from "../errors.js";
import { weightsFile } from "../io/checkpointDType.js";
import { readSafetensors, toFloat32Array, writeSafetensors, type SafetensorsContent, type SafetensorsTensorInput } from "../io/safetensors.js";
import { loadModel, type Model } from "../model.js";
import { native } from "../native.js";

/** Whether a checkpoint key is a block's attention or MLP linear weight (official DiT and diffusers key layouts). */
export function isBlockLinearWeight(key: string): boolean {
  if (!/(^|\.)(blocks|transformer_blocks|single_transformer_blocks)\.\d+\./.test(key) || !key.endsWith(".weight")) return false;
  return !/(adaLN|norm|emb)/i.test(key);
}

/** The best rank-r approximation of the row-major out×in matrix w (float64 arithmetic, float32 result), computed
 * off the JS thread. */
export async function truncateRank(w: Float32Array, out: number, inp: number, rank: number): Promise<Float32Array> {
  if (!(w instanceof Float32Array)) throw typeError("Float32Array", "w", w);
  for (const [name, v] of [["out", out], ["inp", inp]] as const) if (!Number.isSafeInteger(v) || v < 1) throw rangeError("positive integer", name, v);
  if (w.length !== out * inp) throw rangeError(`${out * inp} values (${out}×${inp})`, "w.length", w.length);
  if (!Number.isSafeInteger(rank) || rank < 1) throw rangeError("positive integer", "rank", rank);
  return native().truncateRank(w, out, inp, rank);
}

/** How many matrices are truncated at once: libuv's pool less one thread (left for file and DNS work), ≥ 1. */
function truncationConcurrency(): number {
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(1, Math.min(os.availableParallelism(), pool - 1));
}

/**
 * The checkpoint with every block linear weight truncated to rankFraction of its full rank (other tensors as they
 * are). The matrices are truncated off the JS thread, a few at a time; when `signal` aborts, no further matrix is
 * started and the call rejects with an AbortError once the running ones end.
 */
export async function lowRankContent(content: SafetensorsContent, rankFraction: number, options: { signal?: AbortSignal } = {}): Promise<SafetensorsContent> {
  checkRankFraction(rankFraction);
  const tensors = new Map(content.tensors);
  const keys = [...content.tensors].filter(([key, t]) => t.shape.length === 2 && isBlockLinearWeight(key)).map(([key]) => key);
  if (keys.length === 0) throw new RangeError("The checkpoint has no transformer-block attention or MLP weights (blocks.N.… or transformer_blocks.N.…) to derive a low-rank weak model from");
  const aborted = () => options.signal?.aborted === true;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < keys.length && !aborted()) {
      const key = keys[next++]!, t = content.tensors.get(key)!;
      const [out, inp] = t.shape as [number, number];
      const rank = Math.max(1, Math.round(rankFraction * Math.min(out, inp)));
      tensors.set(key, { dtype: "F32", shape: [out, inp], data: await truncateRank(toFloat32Array(t), out, inp, rank) });
    }
  };
  await Promise.all(Array.from({ length: Math.min(truncationConcurrency(), keys.length) }, lane));
  if (aborted()) throw abortError("The operation was aborted", options.signal!.reason);
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
