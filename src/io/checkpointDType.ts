// The dtype a checkpoint's weights are stored in, read from its safetensors header only (no tensor data): the
// loaders' default compute dtype (issue 20, "Memory and speed": bf16 checkpoints stay bf16 unless f32 is requested).
// The weights file is found as the engine finds it (native/src/models/dit_config.cpp resolve_model_files for models,
// vae_kl_config.cpp for VAEs): a .safetensors path itself, else the folder's preferred names, else its only
// *.safetensors. A checkpoint is bf16 when every floating-point tensor of rank ≥ 2 (the GEMM / convolution weights;
// biases and norm scales may stay f32) is BF16; F16 and F32 checkpoints are computed in f32.
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

import { readSafetensorsHeader } from "./safetensors.js";

export type WeightsDType = "f32" | "bf16";

const FLOAT_DTYPES = new Set(["F16", "BF16", "F32", "F64"]);

/** The weights file of a model or VAE path, or undefined when the engine would not find exactly one. */
export function weightsFile(target: string, preferred: readonly string[], ignored: readonly string[] = []): string | undefined {
  if (!existsSync(target)) return undefined;
  if (!statSync(target).isDirectory()) return target;
  for (const name of preferred) if (existsSync(path.join(target, name))) return path.join(target, name);
  const found = readdirSync(target).filter((f) => f.endsWith(".safetensors") && !ignored.includes(f));
  return found.length === 1 ? path.join(target, found[0]!) : undefined;
}

/** 'bf16' when the checkpoint's weight matrices are all stored as bf16, else 'f32'; undefined when the file cannot be
 * read (the engine then reports why, with its own error). */
export function storedWeightsDType(file: string | undefined): WeightsDType | undefined {
  if (file === undefined) return undefined;
  let header;
  try {
    header = readSafetensorsHeader(file);
  } catch {
    return undefined;
  }
  let matrices = 0;
  for (const { dtype, shape } of header.values()) {
    if (!FLOAT_DTYPES.has(dtype) || shape.length < 2) continue;
    if (dtype !== "BF16") return "f32";
    matrices++;
  }
  return matrices > 0 ? "bf16" : "f32";
}
